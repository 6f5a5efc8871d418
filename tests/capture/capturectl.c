/*
 * capturectl: read captured exchanges back from a store in shell tests.
 *
 *   capturectl DIR list PROJECT
 *       one line per exchange, oldest first:
 *       ID HOST METHOD STATUS FLAGS MODEL IN OUT REQ-SEEN RESP-SEEN REQ-KEPT RESP-KEPT PATH
 *       (FLAGS as letters: t request truncated, T response truncated,
 *        i incomplete, r raw, s streamed, u undecoded; "-" for none)
 *   capturectl DIR get PROJECT ID
 *       the parsed conversation as JSON (one line), then the request and
 *       response headers as stored
 *   capturectl DIR body PROJECT ID request|response
 *       the stored body, as is
 *
 * Exit status 0, 1 with a message on an error, 2 on a usage error.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/capture_parse.h"
#include "policy/capture_store.h"
#include "policy/error.h"
#include "policy/store.h"

static void flags_text(uint32_t f, char *out)
{
    static const struct {
        uint32_t bit;
        char c;
    } names[] = {
        {EP_CAPTURE_REQ_TRUNCATED, 't'}, {EP_CAPTURE_RESP_TRUNCATED, 'T'},
        {EP_CAPTURE_INCOMPLETE, 'i'},    {EP_CAPTURE_RAW, 'r'},
        {EP_CAPTURE_STREAMED, 's'},      {EP_CAPTURE_UNDECODED, 'u'},
    };
    size_t n = 0;

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (f & names[i].bit)
            out[n++] = names[i].c;
    if (n == 0)
        out[n++] = '-';
    out[n] = '\0';
}

static int list_cb(void *ctx, const struct ep_capture *c)
{
    char flags[16];

    (void)ctx;
    flags_text(c->flags, flags);
    printf("%" PRIu64 " %.*s %.*s %u %s %.*s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
           " %zu %zu %.*s\n",
           c->id, (int)c->host.n, c->host.p, (int)c->method.n, c->method.p, c->status, flags,
           c->model.n ? (int)c->model.n : 1, c->model.n ? c->model.p : "-", c->input_tokens,
           c->output_tokens, c->request_size, c->response_size, c->request_body.n,
           c->response_body.n, (int)c->path.n, c->path.p);
    return 0;
}

static int get_cb(void *ctx, const struct ep_capture *c)
{
    json_t *conv = ep_capture_conversation(
        c->request_body.p, c->request_body.n, c->response_body.p, c->response_body.n,
        (c->flags & EP_CAPTURE_STREAMED) ? "text/event-stream" : NULL, NULL);
    char *text = conv ? json_dumps(conv, JSON_COMPACT) : NULL;

    (void)ctx;
    printf("%s\n", text ? text : "null");
    printf("%.*s\n%.*s", (int)c->request_headers.n, c->request_headers.p,
           (int)c->response_headers.n, c->response_headers.p);
    free(text);
    json_decref(conv);
    return 0;
}

static int body_cb(void *ctx, const struct ep_capture *c)
{
    const struct ep_capture_text *t =
        strcmp(ctx, "request") == 0 ? &c->request_body : &c->response_body;

    fwrite(t->p, 1, t->n, stdout);
    return 0;
}

int main(int argc, char **argv)
{
    struct ep_store *store = NULL;
    int rc;

    if (argc < 4)
        goto usage;
    rc = ep_store_open(argv[1], NULL, &store);
    if (rc) {
        fprintf(stderr, "capturectl: cannot open the store %s: %s\n", argv[1], ep_strerror(rc));
        return 1;
    }
    if (strcmp(argv[2], "list") == 0 && argc == 4)
        rc = ep_capture_list(store, argv[3], list_cb, NULL);
    else if (strcmp(argv[2], "get") == 0 && argc == 5)
        rc = ep_capture_get(store, argv[3], strtoull(argv[4], NULL, 10), get_cb, NULL);
    else if (strcmp(argv[2], "body") == 0 && argc == 6)
        rc = ep_capture_get(store, argv[3], strtoull(argv[4], NULL, 10), body_cb, argv[5]);
    else {
        ep_store_close(store);
        goto usage;
    }
    ep_store_close(store);
    if (rc) {
        fprintf(stderr, "capturectl: %s: %s\n", argv[2], ep_strerror(rc));
        return 1;
    }
    return 0;
usage:
    fprintf(stderr, "usage: capturectl DIR list PROJECT | get PROJECT ID | body PROJECT ID "
                    "request|response\n");
    return 2;
}
