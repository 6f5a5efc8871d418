/*
 * The capture's parsers: secrets out of headers and paths, gzip, deflate
 * and br decoding (with caps and cut bodies), and conversations out of
 * OpenAI chat completions, OpenAI responses and Anthropic messages, as
 * JSON and as Server-Sent Events; unknown shapes are raw.
 */
#include "config.h"

#include <brotli/encode.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "policy/capture_parse.h"
#include "policy/error.h"
#include "tests/lib/testutil.h"

static void test_redact_headers(void)
{
    const char in[] = "Host: api.openai.com\r\nAuthorization: Bearer sk-SECRET1\r\n"
                      "X-Api-Key: SECRET2\nx-goog-api-key: SECRET3\r\napi-key: SECRET4\r\n"
                      "Cookie: a=SECRET5\r\nSet-Cookie: b=SECRET6\r\nContent-Type: "
                      "application/json\r\nOpenAI-Beta: assistants=v2\r\n\r\n";
    char *out = NULL;
    size_t n = 0;

    CHECK_INT(ep_capture_redact_headers(in, sizeof in - 1, &out, &n), 0);
    REQUIRE(out);
    CHECK(strstr(out, "SECRET") == NULL);
    CHECK(strstr(out, "Authorization: [redacted]\r\n") != NULL);
    CHECK(strstr(out, "X-Api-Key: [redacted]\r\n") != NULL);
    CHECK(strstr(out, "Host: api.openai.com\r\n") != NULL);
    CHECK(strstr(out, "Content-Type: application/json\r\n") != NULL);
    CHECK(strstr(out, "OpenAI-Beta: assistants=v2\r\n") != NULL);
    CHECK_INT(n, strlen(out));
    ep_free(out);
    CHECK(ep_capture_header_secret("PROXY-AUTHORIZATION", 19));
    CHECK(ep_capture_header_secret("x-session-token", 15));
    CHECK(!ep_capture_header_secret("content-length", 14));
}

static void test_redact_path(void)
{
    const char *cases[][2] = {
        {"/v1beta/models/gemini:generateContent?key=AIzaSECRET&alt=sse",
         "/v1beta/models/gemini:generateContent?key=[redacted]&alt=sse"},
        {"/x?api_key=S1&access_token=S2&foo=bar&x_api_key=S3",
         "/x?api_key=[redacted]&access_token=[redacted]&foo=bar&x_api_key=[redacted]"},
        {"/v1/chat/completions", "/v1/chat/completions"},
        {"/a?flag&token=S", "/a?flag&token=[redacted]"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;

        CHECK_INT(ep_capture_redact_path(cases[i][0], strlen(cases[i][0]), &out, NULL), 0);
        CHECK_STR(out ? out : "", cases[i][1]);
        ep_free(out);
    }
}

static void test_decode(void)
{
    static char plain[100000];
    unsigned char *z = malloc(sizeof plain * 2);
    size_t zn = sizeof plain * 2;
    char *out = NULL;
    size_t n = 0;
    bool cut;
    z_stream zs;

    REQUIRE(z);
    for (size_t i = 0; i < sizeof plain; i++)
        plain[i] = (char)('a' + i * 7 % 26);
    /* gzip */
    memset(&zs, 0, sizeof zs);
    REQUIRE(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    zs.next_in = (unsigned char *)plain;
    zs.avail_in = sizeof plain;
    zs.next_out = z;
    zs.avail_out = (uInt)zn;
    REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
    zn = zs.total_out;
    deflateEnd(&zs);
    CHECK_INT(ep_capture_decode("gzip", z, zn, 1 << 20, &out, &n, &cut), 0);
    CHECK_INT(n, sizeof plain);
    CHECK(!cut);
    CHECK(out && memcmp(out, plain, sizeof plain) == 0);
    ep_free(out);
    /* over the cap: truncated at it */
    CHECK_INT(ep_capture_decode("x-gzip", z, zn, 1000, &out, &n, &cut), 0);
    CHECK_INT(n, 1000);
    CHECK(cut);
    ep_free(out);
    /* a body cut short still gives what it holds */
    CHECK_INT(ep_capture_decode("gzip", z, zn / 2, 1 << 20, &out, &n, &cut), 0);
    CHECK(cut);
    CHECK(n > 0 && n < sizeof plain && memcmp(out, plain, n) == 0);
    ep_free(out);
    /* garbage */
    CHECK_INT(ep_capture_decode("gzip", "not gzip at all", 15, 1000, &out, &n, &cut), EP_E_INVAL);
    CHECK_INT(ep_capture_decode("compress", z, zn, 1000, &out, &n, &cut), EP_E_INVAL);
    /* deflate, zlib-wrapped */
    zn = sizeof plain * 2;
    REQUIRE(compress2(z, (uLongf *)&zn, (unsigned char *)plain, sizeof plain, 6) == Z_OK);
    CHECK_INT(ep_capture_decode("deflate", z, zn, 1 << 20, &out, &n, &cut), 0);
    CHECK_INT(n, sizeof plain);
    ep_free(out);
    /* br */
    zn = sizeof plain * 2;
    REQUIRE(BrotliEncoderCompress(5, 22, BROTLI_MODE_TEXT, sizeof plain, (uint8_t *)plain, &zn,
                                  z) == BROTLI_TRUE);
    CHECK_INT(ep_capture_decode("br", z, zn, 1 << 20, &out, &n, &cut), 0);
    CHECK_INT(n, sizeof plain);
    CHECK(!cut);
    CHECK(out && memcmp(out, plain, sizeof plain) == 0);
    ep_free(out);
    CHECK_INT(ep_capture_decode("br", z, zn, 500, &out, &n, &cut), 0);
    CHECK_INT(n, 500);
    CHECK(cut);
    ep_free(out);
    /* identity */
    CHECK_INT(ep_capture_decode(NULL, "abc", 3, 2, &out, &n, &cut), 0);
    CHECK_INT(n, 2);
    CHECK(cut);
    ep_free(out);
    free(z);
}

/* The reply text, first tool call and usage of a parsed conversation. */
static void check_conv(json_t *c, const char *shape, const char *model, const char *text,
                       const char *tool_name, const char *tool_args, long long in, long long out)
{
    json_t *reply = json_object_get(c, "reply"), *usage = json_object_get(c, "usage");
    json_t *tool = json_array_get(json_object_get(reply, "tool_calls"), 0);

    REQUIRE(c);
    CHECK_STR(json_string_value(json_object_get(c, "shape")), shape);
    CHECK_STR(json_string_value(json_object_get(c, "model")), model);
    CHECK_STR(json_string_value(json_object_get(reply, "content")), text);
    if (tool_name) {
        CHECK_STR(tool ? json_string_value(json_object_get(tool, "name")) : "", tool_name);
        CHECK_STR(tool ? json_string_value(json_object_get(tool, "arguments")) : "", tool_args);
    } else {
        CHECK(tool == NULL);
    }
    CHECK_INT(json_integer_value(json_object_get(usage, "input_tokens")), in);
    CHECK_INT(json_integer_value(json_object_get(usage, "output_tokens")), out);
}

#define PARSE(req, resp, ct, sum)                                                                  \
    ep_capture_conversation((req), strlen(req), (resp), strlen(resp), (ct), (sum))

static void test_openai_chat(void)
{
    const char *req = "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":["
                      "{\"role\":\"system\",\"content\":\"Be brief.\"},"
                      "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Weather "
                      "in Paris?\"}]}]}";
    const char *sse =
        "data: {\"id\":\"c1\",\"model\":\"gpt-4o-2024\",\"choices\":[{\"index\":0,\"delta\":"
        "{\"role\":\"assistant\",\"content\":\"Let me \"}}]}\n\n"
        "data: {\"id\":\"c1\",\"model\":\"gpt-4o-2024\",\"choices\":[{\"index\":0,\"delta\":"
        "{\"content\":\"check.\"}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":"
        "\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
        "\"{\\\"ci\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
        "{\"arguments\":\"ty\\\":\\\"Paris\\\"}\"}}]}}]}\r\n\r\n"
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":21,\"completion_tokens\":9}}\n\n"
        "data: [DONE]\n\n";
    const char *whole = "{\"id\":\"c2\",\"object\":\"chat.completion\",\"model\":\"gpt-4o-mini\","
                        "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                        "\"content\":\"Hello!\"}}],\"usage\":{\"prompt_tokens\":5,"
                        "\"completion_tokens\":2}}";
    struct ep_capture_summary sum;
    json_t *c = PARSE(req, sse, "text/event-stream; charset=utf-8", &sum);
    json_t *msgs = json_object_get(c, "messages");

    check_conv(c, "openai.chat", "gpt-4o-2024", "Let me check.", "get_weather",
               "{\"city\":\"Paris\"}", 21, 9);
    CHECK_INT(json_array_size(msgs), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(msgs, 1), "content")),
              "Weather in Paris?");
    CHECK_STR(sum.first_user, "Weather in Paris?");
    CHECK_STR(sum.model, "gpt-4o-2024");
    CHECK(sum.streamed);
    CHECK(sum.complete);
    CHECK(!sum.raw);
    CHECK_INT(sum.input_tokens, 21);
    json_decref(c);
    c = PARSE(req, whole, "application/json", &sum);
    check_conv(c, "openai.chat", "gpt-4o-mini", "Hello!", NULL, NULL, 5, 2);
    CHECK(!sum.streamed);
    json_decref(c);
}

static void test_openai_responses(void)
{
    const char *req = "{\"model\":\"gpt-4.1\",\"instructions\":\"Be kind.\",\"input\":\"Hi "
                      "there\",\"stream\":true}";
    const char *sse =
        "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"model\":"
        "\"gpt-4.1-2025\"}}\n\n"
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
        "\"delta\":\"Hel\"}\n\n"
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
        "\"delta\":\"lo\"}\n\n"
        "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\","
        "\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_9\",\"name\":"
        "\"lookup\"}}\n\n"
        "event: response.function_call_arguments.delta\ndata: {\"type\":"
        "\"response.function_call_arguments.delta\",\"item_id\":\"fc_1\",\"delta\":\"{}\"}\n\n"
        "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":"
        "{\"model\":\"gpt-4.1-2025\",\"usage\":{\"input_tokens\":7,\"output_tokens\":3}}}\n\n";
    const char *whole =
        "{\"object\":\"response\",\"model\":\"gpt-4.1\",\"output\":[{\"type\":\"message\","
        "\"content\":[{\"type\":\"output_text\",\"text\":\"Done.\"}]},{\"type\":"
        "\"function_call\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}],"
        "\"usage\":{\"input_tokens\":4,\"output_tokens\":1}}";
    struct ep_capture_summary sum;
    json_t *c = PARSE(req, sse, "text/event-stream", &sum);

    check_conv(c, "openai.responses", "gpt-4.1-2025", "Hello", "lookup", "{}", 7, 3);
    CHECK_STR(sum.first_user, "Hi there");
    CHECK(sum.complete);
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(c, "messages"), 0), "role")),
              "system");
    json_decref(c);
    c = PARSE(req, whole, "application/json", &sum);
    check_conv(c, "openai.responses", "gpt-4.1", "Done.", "f", "{\"a\":1}", 4, 1);
    json_decref(c);
}

static void test_anthropic(void)
{
    const char *req = "{\"model\":\"claude-sonnet-4\",\"system\":\"You are terse.\","
                      "\"messages\":[{\"role\":\"user\",\"content\":\"List files\"},"
                      "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"tu0\","
                      "\"name\":\"ls\",\"input\":{\"path\":\"/\"}}]},"
                      "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
                      "\"tu0\",\"content\":\"a b\"}]}],\"stream\":true}";
    const char *sse =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":"
        "\"claude-sonnet-4-2025\",\"usage\":{\"input_tokens\":30,\"output_tokens\":1}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: ping\ndata: {\"type\":\"ping\"}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"Two files\"}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,"
        "\"content_block\":{\"type\":\"tool_use\",\"id\":\"tu1\",\"name\":\"cat\",\"input\":{}}}"
        "\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
        "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"f\\\":\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
        "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"a\\\"}\"}}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
        "\"tool_use\"},\"usage\":{\"output_tokens\":15}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    const char *whole = "{\"type\":\"message\",\"model\":\"claude-haiku\",\"content\":[{\"type\":"
                        "\"text\",\"text\":\"Hi\"}],\"usage\":{\"input_tokens\":3,"
                        "\"output_tokens\":1}}";
    struct ep_capture_summary sum;
    json_t *c = PARSE(req, sse, "text/event-stream", &sum), *msgs;

    check_conv(c, "anthropic.messages", "claude-sonnet-4-2025", "Two files", "cat", "{\"f\":\"a\"}",
               30, 15);
    msgs = json_object_get(c, "messages");
    CHECK_INT(json_array_size(msgs), 4);
    CHECK_STR(json_string_value(json_object_get(json_array_get(msgs, 0), "role")), "system");
    CHECK_STR(json_string_value(json_object_get(
                  json_array_get(json_object_get(json_array_get(msgs, 2), "tool_calls"), 0),
                  "arguments")),
              "{\"path\":\"/\"}");
    CHECK_STR(json_string_value(json_object_get(json_array_get(msgs, 3), "content")), "a b");
    CHECK_STR(sum.first_user, "List files");
    CHECK(sum.complete);
    json_decref(c);
    c = PARSE(req, whole, NULL, &sum);
    check_conv(c, "anthropic.messages", "claude-haiku", "Hi", NULL, NULL, 3, 1);
    CHECK(!sum.streamed);
    json_decref(c);
}

static void test_raw(void)
{
    struct ep_capture_summary sum;
    json_t *c = PARSE("{\"prompt\":\"x\"}", "<html>oops</html>", "text/html", &sum);

    CHECK(sum.raw);
    CHECK_STR(json_string_value(json_object_get(c, "shape")), "raw");
    json_decref(c);
    c = PARSE("not json", "{\"error\":{\"message\":\"bad key\"}}", "application/json", &sum);
    CHECK(sum.raw);
    json_decref(c);
    /* A cut stream still gives what came. */
    c = PARSE("{\"model\":\"m\"}",
              "data: {\"choices\":[{\"delta\":{\"content\":\"par\"}}]}\n\ndata: {\"choi", NULL,
              &sum);
    CHECK(sum.streamed);
    CHECK(!sum.complete);
    CHECK_STR(json_string_value(json_object_get(json_object_get(c, "reply"), "content")), "par");
    json_decref(c);
    /* The first user message is cut on a character boundary. */
    {
        char req[1200] = "{\"messages\":[{\"role\":\"user\",\"content\":\"";
        size_t n = strlen(req);

        for (int i = 0; i < 300; i++, n += 2)
            memcpy(req + n, "\xc3\xa9", 2);
        strcpy(req + n, "\"}]}");
        c = PARSE(req, "", NULL, &sum);
        CHECK_INT(strlen(sum.first_user), 254);
        json_decref(c);
    }
}

int main(void)
{
    test_redact_headers();
    test_redact_path();
    test_decode();
    test_openai_chat();
    test_openai_responses();
    test_anthropic();
    test_raw();
    return test_exit();
}
