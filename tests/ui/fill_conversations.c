/*
 * fill_conversations: store three captured LLM exchanges for a project,
 * for the page's conversations view (capture traffic needs the bumping
 * squid, its CA and a TLS origin: tests/capture does that). Writes through
 * the policy core's public API (policy/capture_store.h), as the capture
 * service does.
 *
 *   fill_conversations STORE PROJECT
 *
 * The exchanges, oldest first: an OpenAI chat completion with a system
 * and a user message, a reply and a tool call; an Anthropic message whose
 * user text and reply are HTML meant to run script; an OpenAI chat whose
 * response was cut (truncated and incomplete). Exit 0, or 1 with a message.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "policy/capture_store.h"
#include "policy/store.h"

#define TEXT(s) ((struct ep_capture_text){(s), sizeof(s) - 1})

static const char openai_req[] =
    "{\"model\": \"gpt-4o\", \"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, "
    "{\"role\": \"user\", \"content\": \"How do I read a file in Python?\"}]}";
static const char openai_resp[] =
    "{\"id\": \"chatcmpl-1\", \"object\": \"chat.completion\", \"model\": \"gpt-4o\", "
    "\"choices\": [{\"index\": 0, \"message\": {\"role\": \"assistant\", \"content\": "
    "\"Use open() in a with block.\", \"tool_calls\": [{\"id\": \"call_1\", \"type\": "
    "\"function\", \"function\": {\"name\": \"read_file\", \"arguments\": "
    "\"{\\\"path\\\": \\\"a.txt\\\"}\"}}]}, \"finish_reason\": \"tool_calls\"}], "
    "\"usage\": {\"prompt_tokens\": 21, \"completion_tokens\": 9}}";
static const char xss_req[] =
    "{\"model\": \"claude-sonnet-4\", \"max_tokens\": 100, \"messages\": [{\"role\": \"user\", "
    "\"content\": \"<img src=x onerror=\\\"window.pwned=1\\\">\"}]}";
static const char xss_resp[] =
    "{\"id\": \"msg_1\", \"type\": \"message\", \"role\": \"assistant\", \"model\": "
    "\"claude-sonnet-4\", \"content\": [{\"type\": \"text\", \"text\": "
    "\"<script>window.pwned=2</script><b>bold?</b>\"}], \"stop_reason\": \"end_turn\", "
    "\"usage\": {\"input_tokens\": 12, \"output_tokens\": 5}}";
static const char cut_req[] =
    "{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": "
    "\"Write a long story\"}]}";
static const char cut_resp[] = "{\"id\": \"chatcmpl-2\", \"object\": \"chat.completion\", \"choi";
static const char req_headers[] = "Content-Type: application/json\r\nAuthorization: [redacted]\r\n";
static const char resp_headers[] = "Content-Type: application/json\r\n";

int main(int argc, char **argv)
{
    struct ep_store *store = NULL;
    int64_t now = (int64_t)time(NULL) * 1000000;
    struct ep_capture c[3];
    int rc = 1, err;

    if (argc != 3) {
        fprintf(stderr, "usage: fill_conversations STORE PROJECT\n");
        return 2;
    }
    memset(c, 0, sizeof c);
    for (int i = 0; i < 3; i++) {
        c[i].time_us = now - (3 - i) * 60 * 1000000LL;
        c[i].status = 200;
        c[i].method = TEXT("POST");
        c[i].request_headers = TEXT(req_headers);
        c[i].response_headers = TEXT(resp_headers);
    }
    c[0].host = TEXT("api.openai.com");
    c[0].path = TEXT("/v1/chat/completions");
    c[0].model = TEXT("gpt-4o");
    c[0].first_user = TEXT("How do I read a file in Python?");
    c[0].input_tokens = 21;
    c[0].output_tokens = 9;
    c[0].request_body = TEXT(openai_req);
    c[0].response_body = TEXT(openai_resp);

    c[1].host = TEXT("api.anthropic.com");
    c[1].path = TEXT("/v1/messages");
    c[1].model = TEXT("claude-sonnet-4");
    c[1].first_user = TEXT("<img src=x onerror=\"window.pwned=1\">");
    c[1].input_tokens = 12;
    c[1].output_tokens = 5;
    c[1].request_body = TEXT(xss_req);
    c[1].response_body = TEXT(xss_resp);

    c[2].host = TEXT("api.openai.com");
    c[2].path = TEXT("/v1/chat/completions");
    c[2].model = TEXT("gpt-4o-mini");
    c[2].first_user = TEXT("Write a long story");
    c[2].flags = EP_CAPTURE_RESP_TRUNCATED | EP_CAPTURE_INCOMPLETE;
    c[2].request_body = TEXT(cut_req);
    c[2].response_body = TEXT(cut_resp);
    for (int i = 0; i < 3; i++) {
        c[i].request_size = c[i].request_body.n;
        c[i].response_size = c[i].response_body.n;
    }
    c[2].response_size = 200000;

    err = ep_store_open(argv[1], NULL, &store);
    if (err) {
        fprintf(stderr, "fill_conversations: cannot open the store in %s: %s\n", argv[1],
                ep_strerror(err));
        goto out;
    }
    for (int i = 0; i < 3; i++) {
        err = ep_capture_put(store, argv[2], &c[i], NULL, NULL);
        if (err) {
            fprintf(stderr, "fill_conversations: storing exchange %d of %s: %s\n", i + 1, argv[2],
                    ep_strerror(err));
            goto out;
        }
    }
    rc = 0;
out:
    ep_store_close(store);
    return rc;
}
