/*
 * The store's listing helpers for paged answers: walking projects and seen
 * records from a key on (strictly after it, whether or not it exists, and
 * never into another project's records), stopping when the callback says
 * so, counting projects without reading them, and the generation that
 * changes with every committed write and with nothing else.
 */
#include "config.h"

#include "tests/store/storetest.h"

#define STOP 12345

struct walk {
    char keys[64][EP_HOST_BUFSZ];
    int n;
    int stop_after; /* stop (return STOP) after this many; 0: never */
};

static int walk_project(void *ctx, const struct ep_project *p)
{
    struct walk *w = ctx;

    snprintf(w->keys[w->n++], sizeof w->keys[0], "%s", p->id);
    return w->stop_after && w->n == w->stop_after ? STOP : 0;
}

static int walk_host(void *ctx, const char *host, const struct ep_seen *s)
{
    struct walk *w = ctx;

    (void)s;
    snprintf(w->keys[w->n++], sizeof w->keys[0], "%s", host);
    return w->stop_after && w->n == w->stop_after ? STOP : 0;
}

static void seen(struct ep_store *s, const char *id, const char *host)
{
    struct ep_seen_delta d = {id, host, 1, 0, 1700000000, 1700000000, EP_VERDICT_ALLOW};

    REQUIRE(ep_store_seen_add(s, &d, 1) == 0);
}

int main(void)
{
    struct ep_store *s = store_open_dir(store_dir("listing"), 0);
    struct walk w;
    uint64_t n, g1, g2;

    CHECK_INT(ep_store_projects_count(s, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(ep_store_generation(s, &g1), 0);
    project_add(s, "a1", "default", EP_MODE_SECURITY, NULL);
    project_add(s, "b2", "default", EP_MODE_SECURITY, NULL);
    project_add(s, "b3", "default", EP_MODE_SECURITY, NULL);
    project_add(s, "c4", "default", EP_MODE_LOGGING, NULL);
    CHECK_INT(ep_store_generation(s, &g2), 0);
    CHECK(g2 > g1);
    CHECK_INT(ep_store_projects_count(s, &n), 0);
    CHECK_INT(n, 4);

    /* From an existing id: strictly after it. */
    memset(&w, 0, sizeof w);
    CHECK_INT(ep_store_projects_list_after(s, "b2", walk_project, &w), 0);
    CHECK_INT(w.n, 2);
    CHECK_STR(w.keys[0], "b3");
    CHECK_STR(w.keys[1], "c4");
    /* From an id that does not exist: the next one. */
    memset(&w, 0, sizeof w);
    CHECK_INT(ep_store_projects_list_after(s, "b", walk_project, &w), 0);
    CHECK_INT(w.n, 3);
    CHECK_STR(w.keys[0], "b2");
    /* Past the end, and NULL (everything). */
    memset(&w, 0, sizeof w);
    CHECK_INT(ep_store_projects_list_after(s, "z", walk_project, &w), 0);
    CHECK_INT(w.n, 0);
    memset(&w, 0, sizeof w);
    w.stop_after = 2;
    CHECK_INT(ep_store_projects_list_after(s, NULL, walk_project, &w), STOP);
    CHECK_INT(w.n, 2);
    CHECK_STR(w.keys[1], "b2");

    seen(s, "b2", "x.org");
    seen(s, "b2", "y.org");
    seen(s, "b2", "z.org");
    seen(s, "b3", "a.org"); /* the next project's records come right after b2's */
    seen(s, "b", "q.org");  /* a project id that is a prefix of another */
    memset(&w, 0, sizeof w);
    CHECK_INT(ep_store_seen_list_after(s, "b2", "x.org", walk_host, &w), 0);
    CHECK_INT(w.n, 2);
    CHECK_STR(w.keys[0], "y.org");
    CHECK_STR(w.keys[1], "z.org");
    memset(&w, 0, sizeof w);
    CHECK_INT(ep_store_seen_list_after(s, "b2", "xa.org", walk_host, &w), 0);
    CHECK_INT(w.n, 2);
    CHECK_STR(w.keys[0], "y.org");
    memset(&w, 0, sizeof w);
    CHECK_INT(ep_store_seen_list_after(s, "b2", "z.org", walk_host, &w), 0);
    CHECK_INT(w.n, 0);
    memset(&w, 0, sizeof w);
    CHECK_INT(ep_store_seen_list_after(s, "b", NULL, walk_host, &w), 0);
    CHECK_INT(w.n, 1);
    CHECK_STR(w.keys[0], "q.org");
    memset(&w, 0, sizeof w);
    w.stop_after = 1;
    CHECK_INT(ep_store_seen_list_after(s, "b2", NULL, walk_host, &w), STOP);
    CHECK_INT(w.n, 1);
    CHECK_STR(w.keys[0], "x.org");
    CHECK_INT(ep_store_seen_list_after(s, "B2!", NULL, walk_host, &w), EP_E_INVAL);

    /* Reading changes no generation; a write does. */
    CHECK_INT(ep_store_generation(s, &g1), 0);
    memset(&w, 0, sizeof w);
    CHECK_INT(ep_store_seen_list(s, "b2", walk_host, &w), 0);
    CHECK_INT(ep_store_generation(s, &g2), 0);
    CHECK_INT(g2, g1);
    seen(s, "b2", "x.org");
    CHECK_INT(ep_store_generation(s, &g2), 0);
    CHECK(g2 > g1);

    ep_store_close(s);
    return test_exit();
}
