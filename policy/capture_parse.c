/*
 * The capture's parsers (capture_parse.h): secret removal from headers
 * and paths, content decoding with zlib and libbrotli, and the
 * reassembly of OpenAI and Anthropic conversations from JSON bodies and
 * Server-Sent Events streams.
 */
#include "config.h"

#include <brotli/decode.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "policy/capture_parse.h"
#include "policy/error.h"

/* ---- a growable buffer ---- */

struct buf {
    char *p;
    size_t n, cap;
    bool failed;
};

static void buf_add(struct buf *b, const void *data, size_t n)
{
    char *np;
    size_t cap;

    if (b->failed || n == 0)
        return;
    if (b->n + n + 1 > b->cap) {
        cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        np = ep_realloc(b->p, cap);
        if (!np) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/* Hand the buffer's text over (an empty string when nothing was added). */
static int buf_take(struct buf *b, char **out, size_t *out_n)
{
    if (!b->failed && !b->p) {
        b->p = ep_calloc(1, 1);
        b->failed = b->p == NULL;
    }
    if (b->failed) {
        ep_free(b->p);
        return EP_E_NOMEM;
    }
    *out = b->p;
    if (out_n)
        *out_n = b->n;
    return 0;
}

/* ---- secrets ---- */

static bool name_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

static bool name_ends(const char *name, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);

    return n >= k && strncasecmp(name + n - k, suffix, k) == 0;
}

bool ep_capture_header_secret(const char *name, size_t n)
{
    static const char *const secret[] = {
        "authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key",
        "cookie",        "set-cookie",
    };

    for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++)
        if (name_is(name, n, secret[i]))
            return true;
    return name_ends(name, n, "-token") || name_ends(name, n, "-secret") ||
           name_ends(name, n, "-api-key");
}

int ep_capture_redact_headers(const char *in, size_t n, char **out, size_t *out_n)
{
    struct buf b = {0};
    size_t i = 0;

    while (i < n) {
        const char *line = in + i, *nl = memchr(line, '\n', n - i), *colon;
        size_t len = nl ? (size_t)(nl - line) : n - i;

        i += len + (nl ? 1 : 0);
        if (len && line[len - 1] == '\r')
            len--;
        if (len == 0)
            continue;
        colon = memchr(line, ':', len);
        if (colon && ep_capture_header_secret(line, (size_t)(colon - line))) {
            buf_add(&b, line, (size_t)(colon - line));
            buf_str(&b, ": " EP_CAPTURE_REDACTED);
        } else {
            buf_add(&b, line, len);
        }
        buf_str(&b, "\r\n");
    }
    return buf_take(&b, out, out_n);
}

static bool param_secret(const char *name, size_t n)
{
    static const char *const secret[] = {
        "key",    "api_key",  "apikey", "api-key",   "access_token", "token",
        "secret", "password", "sig",    "signature", "auth",         "client_secret",
    };

    for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++)
        if (name_is(name, n, secret[i]))
            return true;
    return name_ends(name, n, "key") || name_ends(name, n, "token") || name_ends(name, n, "secret");
}

int ep_capture_redact_path(const char *in, size_t n, char **out, size_t *out_n)
{
    const char *q = memchr(in, '?', n), *end = in + n, *p;
    struct buf b = {0};

    if (!q) {
        buf_add(&b, in, n);
        return buf_take(&b, out, out_n);
    }
    buf_add(&b, in, (size_t)(q - in) + 1);
    for (p = q + 1; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *eq;
        const char *stop = amp ? amp : end;

        eq = memchr(p, '=', (size_t)(stop - p));
        if (eq && param_secret(p, (size_t)(eq - p))) {
            buf_add(&b, p, (size_t)(eq - p) + 1);
            buf_str(&b, EP_CAPTURE_REDACTED);
        } else {
            buf_add(&b, p, (size_t)(stop - p));
        }
        if (amp)
            buf_add(&b, "&", 1);
        p = amp ? amp + 1 : end;
    }
    return buf_take(&b, out, out_n);
}

/* ---- content decoding ---- */

/* Inflate with zlib window bits @p wbits into @p b, at most @p max bytes. */
static int inflate_into(const void *in, size_t n, int wbits, size_t max, struct buf *b,
                        bool *truncated)
{
    unsigned char chunk[16384];
    z_stream z;
    int zrc;

    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, wbits) != Z_OK)
        return EP_E_NOMEM;
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)n;
    do {
        z.next_out = chunk;
        z.avail_out = sizeof chunk;
        zrc = inflate(&z, Z_NO_FLUSH);
        if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR)
            break;
        size_t got = sizeof chunk - z.avail_out;
        if (b->n + got > max) {
            buf_add(b, chunk, max - b->n);
            *truncated = true;
            zrc = Z_STREAM_END;
            break;
        }
        buf_add(b, chunk, got);
        if (zrc == Z_BUF_ERROR || (got == 0 && z.avail_in == 0)) {
            /* The input ended before the stream did (a truncated body). */
            *truncated = true;
            zrc = Z_STREAM_END;
            break;
        }
    } while (zrc != Z_STREAM_END);
    inflateEnd(&z);
    return zrc == Z_STREAM_END ? 0 : EP_E_INVAL;
}

static int brotli_into(const void *in, size_t n, size_t max, struct buf *b, bool *truncated)
{
    BrotliDecoderState *st = BrotliDecoderCreateInstance(NULL, NULL, NULL);
    const uint8_t *next_in = in;
    size_t avail_in = n;
    BrotliDecoderResult r;
    int rc = EP_E_INVAL;

    if (!st)
        return EP_E_NOMEM;
    do {
        uint8_t chunk[16384], *next_out = chunk;
        size_t avail_out = sizeof chunk, got;

        r = BrotliDecoderDecompressStream(st, &avail_in, &next_in, &avail_out, &next_out, NULL);
        got = sizeof chunk - avail_out;
        if (b->n + got > max) {
            buf_add(b, chunk, max - b->n);
            *truncated = true;
            rc = 0;
            goto out;
        }
        buf_add(b, chunk, got);
    } while (r == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT);
    if (r == BROTLI_DECODER_RESULT_SUCCESS) {
        rc = 0;
    } else if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) {
        *truncated = true;
        rc = 0;
    }
out:
    BrotliDecoderDestroyInstance(st);
    return rc;
}

int ep_capture_decode(const char *coding, const void *in, size_t n, size_t max, char **out,
                      size_t *out_n, bool *truncated)
{
    struct buf b = {0};
    int rc = 0;

    *out = NULL;
    *truncated = false;
    if (!coding || !*coding || strcasecmp(coding, "identity") == 0) {
        *truncated = n > max;
        buf_add(&b, in, n > max ? max : n);
    } else if (strcasecmp(coding, "gzip") == 0 || strcasecmp(coding, "x-gzip") == 0) {
        rc = inflate_into(in, n, 16 + MAX_WBITS, max, &b, truncated);
    } else if (strcasecmp(coding, "deflate") == 0) {
        /* RFC 9110 says zlib-wrapped; some servers send raw deflate. */
        rc = inflate_into(in, n, MAX_WBITS, max, &b, truncated);
        if (rc == EP_E_INVAL) {
            b.n = 0;
            *truncated = false;
            rc = inflate_into(in, n, -MAX_WBITS, max, &b, truncated);
        }
    } else if (strcasecmp(coding, "br") == 0) {
        rc = brotli_into(in, n, max, &b, truncated);
    } else {
        rc = EP_E_INVAL;
    }
    if (rc) {
        ep_free(b.p);
        return rc;
    }
    return buf_take(&b, out, out_n);
}

/* ---- conversations ---- */

/* The reply being put together from a response body or stream. */
struct reply {
    const char *shape;
    struct buf text;
    json_t *tools; /* [{"id","name","arguments"}], with "_key" while streaming */
    char model[128];
    uint64_t in, out;
    bool recognised;
    bool raw;
    bool done; /* the body ended as its shape ends: [DONE], a final event, whole JSON */
};

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

static uint64_t jnum(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static void set_model(char *dst, size_t size, const char *model)
{
    if (model && *model)
        snprintf(dst, size, "%s", model);
}

/* The text of a content value: a string, or the text parts of an array of blocks. */
static void content_text(json_t *content, struct buf *b)
{
    size_t i;
    json_t *part;

    if (json_is_string(content)) {
        buf_str(b, json_string_value(content));
        return;
    }
    if (!json_is_array(content))
        return;
    json_array_foreach(content, i, part)
    {
        const char *type = jstr(part, "type"), *text = jstr(part, "text");

        if (text) {
            if (b->n)
                buf_str(b, "\n");
            buf_str(b, text);
        } else if (type && strcmp(type, "tool_result") == 0) {
            content_text(json_object_get(part, "content"), b);
        } else if (type && (strstr(type, "image") || strstr(type, "file"))) {
            buf_str(b, b->n ? "\n[" : "[");
            buf_str(b, type);
            buf_str(b, "]");
        }
    }
}

static json_t *tool_new(const char *id, const char *name, const char *arguments)
{
    return json_pack("{s:s, s:s, s:s}", "id", id ? id : "", "name", name ? name : "", "arguments",
                     arguments ? arguments : "");
}

/* Tool calls inside a request message: OpenAI "tool_calls" or Anthropic tool_use blocks. */
static json_t *message_tools(json_t *m)
{
    json_t *tools = json_array(), *tc, *content = json_object_get(m, "content");
    size_t i;

    json_array_foreach(json_object_get(m, "tool_calls"), i, tc)
    {
        json_t *fn = json_object_get(tc, "function");

        json_array_append_new(tools,
                              tool_new(jstr(tc, "id"), jstr(fn, "name"), jstr(fn, "arguments")));
    }
    if (json_is_array(content)) {
        json_array_foreach(content, i, tc)
        {
            const char *type = jstr(tc, "type");

            if (type && strcmp(type, "tool_use") == 0) {
                char *args = json_dumps(json_object_get(tc, "input"), JSON_COMPACT);

                json_array_append_new(tools, tool_new(jstr(tc, "id"), jstr(tc, "name"), args));
                free(args);
            }
        }
    }
    return tools;
}

static void message_add(json_t *messages, const char *role, json_t *content, json_t *m)
{
    struct buf b = {0};
    json_t *msg, *tools = m ? message_tools(m) : json_array();

    content_text(content, &b);
    msg = json_pack("{s:s, s:s}", "role", role ? role : "", "content", b.p ? b.p : "");
    if (msg && json_array_size(tools))
        json_object_set(msg, "tool_calls", tools);
    json_decref(tools);
    if (msg)
        json_array_append_new(messages, msg);
    ep_free(b.p);
}

/* The messages of a request body, in order, and its model. */
static json_t *request_messages(json_t *req, char *model, size_t model_size)
{
    json_t *messages = json_array(), *m, *input;
    size_t i;

    if (!json_is_object(req))
        return messages;
    set_model(model, model_size, jstr(req, "model"));
    if (json_object_get(req, "system"))
        message_add(messages, "system", json_object_get(req, "system"), NULL);
    if (jstr(req, "instructions"))
        message_add(messages, "system", json_object_get(req, "instructions"), NULL);
    json_array_foreach(json_object_get(req, "messages"), i, m)
        message_add(messages, jstr(m, "role"), json_object_get(m, "content"), m);
    input = json_object_get(req, "input");
    if (json_is_string(input))
        message_add(messages, "user", input, NULL);
    json_array_foreach(input, i, m)
    {
        const char *type = jstr(m, "type");

        if (type && strcmp(type, "function_call_output") == 0) {
            message_add(messages, "tool", json_object_get(m, "output"), NULL);
        } else if (type && strcmp(type, "function_call") == 0) {
            json_t *msg =
                json_pack("{s:s, s:s, s:[o]}", "role", "assistant", "content", "", "tool_calls",
                          tool_new(jstr(m, "call_id"), jstr(m, "name"), jstr(m, "arguments")));
            if (msg)
                json_array_append_new(messages, msg);
        } else {
            message_add(messages, jstr(m, "role") ? jstr(m, "role") : "user",
                        json_object_get(m, "content"), NULL);
        }
    }
    return messages;
}

/* The tool of the reply with streaming key @p key, or a new one. */
static json_t *reply_tool(struct reply *r, const char *key, const char *id, const char *name)
{
    json_t *t;
    size_t i;

    json_array_foreach(r->tools, i, t)
    {
        const char *k = jstr(t, "_key");

        if (k && strcmp(k, key) == 0) {
            if (id && *id)
                json_object_set_new(t, "id", json_string(id));
            if (name && *name)
                json_object_set_new(t, "name", json_string(name));
            return t;
        }
    }
    t = tool_new(id, name, "");
    if (!t)
        return NULL;
    json_object_set_new(t, "_key", json_string(key));
    json_array_append_new(r->tools, t);
    return t;
}

static void tool_append(json_t *t, const char *more)
{
    struct buf b = {0};

    if (!t || !more || !*more)
        return;
    buf_str(&b, jstr(t, "arguments") ? jstr(t, "arguments") : "");
    buf_str(&b, more);
    if (!b.failed)
        json_object_set_new(t, "arguments", json_string(b.p));
    ep_free(b.p);
}

/* The output items of a whole OpenAI responses object. */
static void responses_output(struct reply *r, json_t *resp)
{
    json_t *item, *part;
    size_t i, j;

    r->shape = "openai.responses";
    r->recognised = true;
    set_model(r->model, sizeof r->model, jstr(resp, "model"));
    r->in = jnum(json_object_get(resp, "usage"), "input_tokens");
    r->out = jnum(json_object_get(resp, "usage"), "output_tokens");
    json_array_foreach(json_object_get(resp, "output"), i, item)
    {
        const char *type = jstr(item, "type");

        if (type && strcmp(type, "message") == 0) {
            json_array_foreach(json_object_get(item, "content"), j, part)
            {
                if (jstr(part, "text")) {
                    if (r->text.n)
                        buf_str(&r->text, "\n");
                    buf_str(&r->text, jstr(part, "text"));
                }
            }
        } else if (type && strcmp(type, "function_call") == 0) {
            json_array_append_new(r->tools, tool_new(jstr(item, "call_id"), jstr(item, "name"),
                                                     jstr(item, "arguments")));
        }
    }
}

/* One whole (not streamed) response body. */
static void reply_json(struct reply *r, json_t *body)
{
    json_t *choice, *msg, *usage = json_object_get(body, "usage"), *tc;
    const char *type = jstr(body, "type"), *object = jstr(body, "object");
    size_t i;

    if (json_is_array(json_object_get(body, "choices"))) {
        r->shape = "openai.chat";
        r->recognised = true;
        set_model(r->model, sizeof r->model, jstr(body, "model"));
        choice = json_array_get(json_object_get(body, "choices"), 0);
        msg = json_object_get(choice, "message");
        content_text(json_object_get(msg, "content"), &r->text);
        json_array_foreach(json_object_get(msg, "tool_calls"), i, tc)
        {
            json_t *fn = json_object_get(tc, "function");

            json_array_append_new(
                r->tools, tool_new(jstr(tc, "id"), jstr(fn, "name"), jstr(fn, "arguments")));
        }
        r->in = jnum(usage, "prompt_tokens");
        r->out = jnum(usage, "completion_tokens");
    } else if ((object && strcmp(object, "response") == 0) ||
               json_is_array(json_object_get(body, "output"))) {
        responses_output(r, body);
    } else if (type && strcmp(type, "message") == 0) {
        r->shape = "anthropic.messages";
        r->recognised = true;
        set_model(r->model, sizeof r->model, jstr(body, "model"));
        content_text(json_object_get(body, "content"), &r->text);
        msg = message_tools(body);
        json_array_extend(r->tools, msg);
        json_decref(msg);
        r->in = jnum(usage, "input_tokens");
        r->out = jnum(usage, "output_tokens");
    }
}

/* One Server-Sent Event's data, parsed. */
static void reply_event(struct reply *r, json_t *ev)
{
    const char *type = jstr(ev, "type");
    json_t *choice, *delta, *tc, *usage = json_object_get(ev, "usage");
    char key[32];
    size_t i;

    if (json_is_array(json_object_get(ev, "choices"))) {
        r->shape = "openai.chat";
        r->recognised = true;
        set_model(r->model, sizeof r->model, jstr(ev, "model"));
        choice = json_array_get(json_object_get(ev, "choices"), 0);
        delta = json_object_get(choice, "delta");
        if (jstr(delta, "content"))
            buf_str(&r->text, jstr(delta, "content"));
        json_array_foreach(json_object_get(delta, "tool_calls"), i, tc)
        {
            json_t *fn = json_object_get(tc, "function");

            snprintf(key, sizeof key, "%lld",
                     (long long)json_integer_value(json_object_get(tc, "index")));
            tool_append(reply_tool(r, key, jstr(tc, "id"), jstr(fn, "name")),
                        jstr(fn, "arguments"));
        }
        if (json_is_object(usage)) {
            r->in = jnum(usage, "prompt_tokens");
            r->out = jnum(usage, "completion_tokens");
        }
        return;
    }
    if (!type)
        return;
    if (strncmp(type, "response.", 9) == 0) {
        r->shape = "openai.responses";
        r->recognised = true;
        if (strcmp(type, "response.output_text.delta") == 0) {
            buf_str(&r->text, jstr(ev, "delta") ? jstr(ev, "delta") : "");
        } else if (strcmp(type, "response.output_item.added") == 0) {
            json_t *item = json_object_get(ev, "item");
            const char *itype = jstr(item, "type");

            if (itype && strcmp(itype, "function_call") == 0 && jstr(item, "id"))
                reply_tool(r, jstr(item, "id"), jstr(item, "call_id"), jstr(item, "name"));
        } else if (strcmp(type, "response.function_call_arguments.delta") == 0 &&
                   jstr(ev, "item_id")) {
            tool_append(reply_tool(r, jstr(ev, "item_id"), NULL, NULL), jstr(ev, "delta"));
        } else if (strcmp(type, "response.created") == 0) {
            set_model(r->model, sizeof r->model, jstr(json_object_get(ev, "response"), "model"));
        } else if (strcmp(type, "response.completed") == 0 ||
                   strcmp(type, "response.incomplete") == 0) {
            json_t *resp = json_object_get(ev, "response");

            set_model(r->model, sizeof r->model, jstr(resp, "model"));
            r->in = jnum(json_object_get(resp, "usage"), "input_tokens");
            r->out = jnum(json_object_get(resp, "usage"), "output_tokens");
            r->done = true;
        } else if (strcmp(type, "response.failed") == 0) {
            r->done = true;
        }
        return;
    }
    if (strcmp(type, "message_start") == 0) {
        json_t *msg = json_object_get(ev, "message");

        r->shape = "anthropic.messages";
        r->recognised = true;
        set_model(r->model, sizeof r->model, jstr(msg, "model"));
        r->in = jnum(json_object_get(msg, "usage"), "input_tokens");
        r->out = jnum(json_object_get(msg, "usage"), "output_tokens");
    } else if (strcmp(type, "content_block_start") == 0) {
        json_t *block = json_object_get(ev, "content_block");
        const char *btype = jstr(block, "type");

        r->recognised = true;
        snprintf(key, sizeof key, "%lld",
                 (long long)json_integer_value(json_object_get(ev, "index")));
        if (btype && strcmp(btype, "tool_use") == 0)
            reply_tool(r, key, jstr(block, "id"), jstr(block, "name"));
        else if (jstr(block, "text"))
            buf_str(&r->text, jstr(block, "text"));
    } else if (strcmp(type, "content_block_delta") == 0) {
        json_t *d = json_object_get(ev, "delta");
        const char *dtype = jstr(d, "type");

        r->recognised = true;
        snprintf(key, sizeof key, "%lld",
                 (long long)json_integer_value(json_object_get(ev, "index")));
        if (dtype && strcmp(dtype, "text_delta") == 0)
            buf_str(&r->text, jstr(d, "text") ? jstr(d, "text") : "");
        else if (dtype && strcmp(dtype, "input_json_delta") == 0)
            tool_append(reply_tool(r, key, NULL, NULL), jstr(d, "partial_json"));
    } else if (strcmp(type, "message_stop") == 0 || strcmp(type, "error") == 0) {
        r->done = true;
    } else if (strcmp(type, "message_delta") == 0) {
        if (jnum(usage, "output_tokens"))
            r->out = jnum(usage, "output_tokens");
        if (jnum(usage, "input_tokens"))
            r->in = jnum(usage, "input_tokens");
    }
}

/* Split a Server-Sent Events body into events and feed each one's data to reply_event(). */
static void reply_sse(struct reply *r, const char *s, size_t n)
{
    struct buf data = {0};
    size_t i = 0;

    while (i <= n) {
        const char *line = s + i, *nl = i < n ? memchr(line, '\n', n - i) : NULL;
        size_t len = nl ? (size_t)(nl - line) : n - i;

        i += len + 1;
        if (len && line[len - 1] == '\r')
            len--;
        if (len >= 5 && strncmp(line, "data:", 5) == 0) {
            size_t skip = len > 5 && line[5] == ' ' ? 6 : 5;

            if (data.n)
                buf_add(&data, "\n", 1);
            buf_add(&data, line + skip, len - skip);
        }
        if ((len == 0 || !nl) && data.n) {
            json_error_t err;
            json_t *ev;

            if (strcmp(data.p, "[DONE]") == 0) {
                r->done = true;
            } else {
                ev = json_loadb(data.p, data.n, 0, &err);
                if (ev)
                    reply_event(r, ev);
                else
                    r->raw = true;
                json_decref(ev);
            }
            data.n = 0;
        }
        if (!nl)
            break;
    }
    ep_free(data.p);
}

static bool looks_like_sse(const char *content_type, const char *s, size_t n)
{
    if (content_type && strcasestr(content_type, "text/event-stream"))
        return true;
    return n >= 6 && (strncmp(s, "data:", 5) == 0 || strncmp(s, "event:", 6) == 0);
}

/* Copy @p s into @p dst (size @p size), cut on a UTF-8 character boundary. */
static void copy_utf8(char *dst, size_t size, const char *s)
{
    size_t n = strlen(s);

    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

json_t *ep_capture_conversation(const char *request, size_t request_n, const char *response,
                                size_t response_n, const char *content_type,
                                struct ep_capture_summary *sum)
{
    struct ep_capture_summary local;
    struct reply r = {.shape = "raw"};
    char req_model[128] = "";
    json_t *req = request_n ? json_loadb(request, request_n, 0, NULL) : NULL;
    json_t *messages, *out = NULL, *t, *body, *m;
    bool streamed = looks_like_sse(content_type, response, response_n);
    size_t i;

    if (!sum)
        sum = &local;
    memset(sum, 0, sizeof *sum);
    r.tools = json_array();
    messages = request_messages(req, req_model, sizeof req_model);
    if (streamed) {
        reply_sse(&r, response, response_n);
    } else if (response_n) {
        body = json_loadb(response, response_n, 0, NULL);
        r.done = body != NULL;
        if (body)
            reply_json(&r, body);
        json_decref(body);
    }
    if (!r.recognised && response_n)
        r.raw = true;
    if (request_n && !req)
        r.raw = true;
    if (!r.model[0])
        set_model(r.model, sizeof r.model, req_model);
    copy_utf8(sum->model, sizeof sum->model, r.model);
    json_array_foreach(messages, i, m)
    {
        const char *role = jstr(m, "role");

        if (role && strcmp(role, "user") == 0) {
            copy_utf8(sum->first_user, sizeof sum->first_user, jstr(m, "content"));
            break;
        }
    }
    json_array_foreach(r.tools, i, t) json_object_del(t, "_key");
    out = json_pack("{s:s, s:s, s:o, s:{s:s, s:s%, s:O}, s:{s:I, s:I}, s:b, s:b}", "shape", r.shape,
                    "model", r.model, "messages", messages, "reply", "role", "assistant", "content",
                    r.text.p ? r.text.p : "", r.text.n, "tool_calls", r.tools, "usage",
                    "input_tokens", (json_int_t)r.in, "output_tokens", (json_int_t)r.out,
                    "streamed", streamed, "raw", r.raw);
    sum->input_tokens = r.in;
    sum->output_tokens = r.out;
    sum->raw = r.raw;
    sum->streamed = streamed;
    sum->complete = r.done || response_n == 0;
    json_decref(r.tools);
    json_decref(req);
    ep_free(r.text.p);
    return out;
}
