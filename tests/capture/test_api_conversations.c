/*
 * The conversation endpoints of egress-api against the real daemon:
 * list, get as JSON, Markdown export of one and of all, delete one and
 * all, who may (admin, anyone for an unprotected workspace, the password
 * for a protected one), deleting a project deletes its conversations, and
 * the LLM host list (admin only). Exchanges are written into the daemon's
 * store by this test through the policy API, as the capture service would.
 */
#include "config.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/capture_store.h"
#include "tests/api/client.h"
#include "tests/lib/testutil.h"

#define TXT(s) ((struct ep_capture_text){(s), strlen(s)})

static struct api_daemon d;

static long st(const char *method, const char *path, bool admin, const char *body)
{
    struct api_reply r;
    long status = api_call(&d, method, path, admin, body, &r);

    api_reply_free(&r);
    return status;
}

static long get_pw(const char *path, const char *password, struct api_reply *r)
{
    char header[128];

    snprintf(header, sizeof header, "X-Project-Password: %s", password);
    return api_request(&d, "GET", path, NULL, NULL, 0, NULL, header, r);
}

/* Store one exchange of @p project as the capture service would; its id. */
static uint64_t seed(const char *project, int64_t t, const char *req, const char *resp,
                     uint32_t flags)
{
    struct ep_store *store;
    struct ep_capture c;
    uint64_t id = 0;

    memset(&c, 0, sizeof c);
    c.time_us = t;
    c.status = 200;
    c.flags = flags;
    c.host = TXT("api.anthropic.com");
    c.method = TXT("POST");
    c.path = TXT("/v1/messages");
    c.model = TXT("claude-test");
    c.first_user = TXT("Read a.txt");
    c.input_tokens = 23;
    c.output_tokens = 11;
    c.request_size = strlen(req);
    c.response_size = strlen(resp);
    c.request_headers = TXT("x-api-key: [redacted]\r\n");
    c.response_headers = TXT("Content-Type: text/event-stream\r\n");
    c.request_body = TXT(req);
    c.response_body = TXT(resp);
    REQUIRE(ep_store_open(d.db, NULL, &store) == 0);
    REQUIRE(ep_capture_put(store, project, &c, NULL, &id) == 0);
    ep_store_close(store);
    return id;
}

static const char *REQ = "{\"model\":\"claude-x\",\"system\":\"terse\",\"messages\":[{\"role\":"
                         "\"user\",\"content\":\"Read a.txt\"}]}";
static const char *RESP =
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":"
    "\"claude-test\",\"usage\":{\"input_tokens\":23}}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
    "{\"type\":\"text_delta\",\"text\":\"Bonjour ```x```\"}}\n\n"
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,"
    "\"content_block\":{\"type\":\"tool_use\",\"id\":\"tu_1\",\"name\":\"read_file\"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
    "{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n"
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":11}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

static void create(const char *body, char *id)
{
    REQUIRE(api_create(&d, true, body, id) == 201);
}

static void test_conversations(void)
{
    char open_id[40], locked_id[40], path[200], one[240];
    struct api_reply r;
    json_t *list, *item;
    uint64_t id1, id2;

    create("{\"projectName\": \"Teacher\", \"proxyMode\": \"logging\"}", open_id);
    create("{\"projectName\": \"Locked\", \"proxyMode\": \"logging\", \"passwordProtected\": true, "
           "\"password\": \"secret123\"}",
           locked_id);
    id1 = seed(open_id, 1714564800000000LL, REQ, RESP, EP_CAPTURE_STREAMED);
    id2 = seed(open_id, 1714564900000000LL, "{}", "<html>gateway</html>", EP_CAPTURE_RAW);
    seed(locked_id, 1714564800000000LL, REQ, RESP, EP_CAPTURE_STREAMED);

    /* List: anyone for an unprotected workspace, newest last. */
    snprintf(path, sizeof path, "/api/projects/%s/conversations", open_id);
    CHECK_INT(api_call(&d, "GET", path, false, NULL, &r), 200);
    list = json_object_get(r.json, "conversations");
    CHECK_INT(json_array_size(list), 2);
    CHECK_INT(json_integer_value(json_object_get(r.json, "total")), 2);
    item = json_array_get(list, 0);
    CHECK_STR(json_string_value(json_object_get(item, "host")), "api.anthropic.com");
    CHECK_STR(json_string_value(json_object_get(item, "model")), "claude-test");
    CHECK_STR(json_string_value(json_object_get(item, "firstUserMessage")), "Read a.txt");
    CHECK_STR(json_string_value(json_object_get(item, "time")), "2024-05-01T12:00:00.000000Z");
    CHECK_INT(json_integer_value(json_object_get(item, "inputTokens")), 23);
    CHECK_INT(json_integer_value(json_object_get(item, "outputTokens")), 11);
    CHECK_INT(json_integer_value(json_object_get(item, "responseBytes")), strlen(RESP));
    CHECK(json_is_true(json_object_get(item, "streamed")));
    CHECK(json_is_true(json_object_get(json_array_get(list, 1), "raw")));
    api_reply_free(&r);

    /* One as JSON: messages in order, reply with its tool call, usage, headers. */
    snprintf(one, sizeof one, "%s/%llu", path, (unsigned long long)id1);
    CHECK_INT(api_call(&d, "GET", one, false, NULL, &r), 200);
    item = json_object_get(r.json, "conversation");
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(item, "messages"), 0), "role")),
              "system");
    CHECK_STR(api_str(&r, "conversation.reply.content"), "Bonjour ```x```");
    CHECK_STR(json_string_value(json_object_get(
                  json_array_get(json_object_get(json_object_get(item, "reply"), "tool_calls"), 0),
                  "name")),
              "read_file");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(item, "usage"), "output_tokens")),
              11);
    CHECK_STR(api_str(&r, "requestHeaders"), "x-api-key: [redacted]\r\n");
    CHECK(json_object_get(r.json, "responseBody") == NULL); /* only with ?bodies=1 */
    api_reply_free(&r);
    /* A raw exchange carries its bodies. */
    snprintf(one, sizeof one, "%s/%llu", path, (unsigned long long)id2);
    CHECK_INT(api_call(&d, "GET", one, false, NULL, &r), 200);
    CHECK_STR(api_str(&r, "responseBody"), "<html>gateway</html>");
    api_reply_free(&r);
    snprintf(one, sizeof one, "%s/999", path);
    CHECK_INT(st("GET", one, false, NULL), 404);
    snprintf(one, sizeof one, "%s/abc", path);
    CHECK_INT(st("GET", one, false, NULL), 404);

    /* Markdown: one, and all. */
    snprintf(one, sizeof one, "%s/%llu?format=markdown", path, (unsigned long long)id1);
    CHECK_INT(api_call(&d, "GET", one, false, NULL, &r), 200);
    CHECK(strstr(r.headers, "text/markdown") != NULL);
    CHECK(strstr(r.body, "### system\n\nterse\n") != NULL);
    CHECK(strstr(r.body, "### user\n\nRead a.txt\n") != NULL);
    CHECK(strstr(r.body, "### assistant\n\nBonjour ```x```\n") != NULL);
    CHECK(strstr(r.body, "**Tool call** `read_file` (tu_1)") != NULL);
    CHECK(strstr(r.body, "- tokens: 23 in, 11 out") != NULL);
    api_reply_free(&r);
    snprintf(one, sizeof one, "%s?format=markdown", path);
    CHECK_INT(api_call(&d, "GET", one, false, NULL, &r), 200);
    CHECK(strstr(r.body, "# Conversations of project ") == r.body);
    CHECK(strstr(r.body, "<html>gateway</html>") != NULL);
    CHECK(strstr(r.body, "Bonjour") != NULL);
    api_reply_free(&r);

    /* A protected workspace: the password or an admin. */
    snprintf(path, sizeof path, "/api/projects/%s/conversations", locked_id);
    CHECK_INT(st("GET", path, false, NULL), 401);
    CHECK_INT(get_pw(path, "wrong-password", &r), 401);
    api_reply_free(&r);
    CHECK_INT(get_pw(path, "secret123", &r), 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "conversations")), 1);
    api_reply_free(&r);
    CHECK_INT(st("GET", path, true, NULL), 200);
    CHECK_INT(st("DELETE", path, false, NULL), 401);

    /* Delete one, then all. */
    snprintf(path, sizeof path, "/api/projects/%s/conversations", open_id);
    snprintf(one, sizeof one, "%s/%llu", path, (unsigned long long)id2);
    CHECK_INT(st("DELETE", one, false, NULL), 200);
    CHECK_INT(st("DELETE", one, false, NULL), 404);
    CHECK_INT(api_call(&d, "DELETE", path, false, NULL, &r), 200);
    CHECK_INT(json_integer_value(json_object_get(r.json, "deleted")), 1);
    api_reply_free(&r);
    CHECK_INT(api_call(&d, "GET", path, false, NULL, &r), 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "conversations")), 0);
    api_reply_free(&r);

    /* Deleting a project deletes its conversations. */
    snprintf(path, sizeof path, "/api/projects/%s", locked_id);
    CHECK_INT(st("DELETE", path, true, NULL), 200);
    snprintf(path, sizeof path, "/api/projects/%s/conversations", locked_id);
    CHECK_INT(st("GET", path, true, NULL), 404);
}

static int count_cb(void *ctx, const struct ep_capture *c)
{
    (void)c;
    ++*(unsigned *)ctx;
    return 0;
}

static void test_delete_project_takes_conversations(void)
{
    char id[40], path[200];
    struct ep_store *store;
    unsigned n = 0;

    create("{\"projectName\": \"Gone\", \"proxyMode\": \"logging\"}", id);
    seed(id, 1714564800000000LL, REQ, RESP, 0);
    snprintf(path, sizeof path, "/api/projects/%s", id);
    CHECK_INT(st("DELETE", path, true, NULL), 200);
    REQUIRE(ep_store_open(d.db, NULL, &store) == 0);
    CHECK_INT(ep_capture_list(store, id, count_cb, &n), 0);
    CHECK_INT(n, 0);
    ep_store_close(store);
}

static void test_hosts(void)
{
    struct api_reply r;

    CHECK_INT(st("GET", "/api/capture/hosts", false, NULL), 401);
    CHECK_INT(api_call(&d, "GET", "/api/capture/hosts", true, NULL, &r), 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "hosts")), 7);
    api_reply_free(&r);
    CHECK_INT(st("POST", "/api/capture/hosts", false, "{\"host\": \"llm.example.com\"}"), 401);
    CHECK_INT(st("POST", "/api/capture/hosts", true, "{\"host\": \"LLM.Example.com\"}"), 201);
    CHECK_INT(st("POST", "/api/capture/hosts", true, "{\"host\": \"llm.example.com\"}"), 200);
    CHECK_INT(api_call(&d, "POST", "/api/capture/hosts", true, "{\"host\": \"a.test:443\"}", &r),
              400);
    CHECK_STR(api_str(&r, "error"), "invalid_host");
    api_reply_free(&r);
    CHECK_INT(st("POST", "/api/capture/hosts", true, "{\"host\": \"bad host\"}"), 400);
    CHECK_INT(st("POST", "/api/capture/hosts", true, "{}"), 400);
    CHECK_INT(api_call(&d, "GET", "/api/capture/hosts", true, NULL, &r), 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "hosts")), 8);
    api_reply_free(&r);
    CHECK_INT(st("DELETE", "/api/capture/hosts/llm.example.com", false, NULL), 401);
    CHECK_INT(st("DELETE", "/api/capture/hosts/llm.example.com", true, NULL), 200);
    CHECK_INT(st("DELETE", "/api/capture/hosts/llm.example.com", true, NULL), 404);
}

int main(void)
{
    const char *base = test_tmpdir();

    curl_global_init(CURL_GLOBAL_DEFAULT);
    api_daemon_init(&d, base, "api");
    REQUIRE(api_daemon_start(&d, NULL, NULL) == 0);
    test_conversations();
    test_delete_project_takes_conversations();
    test_hosts();
    CHECK_INT(api_hash_leaks, 0);
    CHECK_INT(api_daemon_stop(&d), 0);
    curl_global_cleanup();
    return test_exit();
}
