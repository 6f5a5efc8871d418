/*
 * Categories and registrable domains (policy/category.h): the hosts the
 * reference system knew, the narrowest-entry rule (storage.googleapis.com
 * is Cloud Storage, not AI APIs), look-alikes that must stay "Other", and
 * libpsl grouping.
 */
#include <stdbool.h>
#include <string.h>

#include "policy/category.h"
#include "policy/error.h"
#include "policy/host.h"
#include "tests/lib/testutil.h"

struct category_case {
    const char *host;
    const char *category;
};

static const struct category_case category_cases[] = {
    /* Package managers. */
    {"pypi.org", "Package Managers"},
    {"pythonhosted.org", "Package Managers"},
    {"files.pythonhosted.org", "Package Managers"},
    {"registry.npmjs.org", "Package Managers"},
    {"www.npmjs.com", "Package Managers"},
    {"yarnpkg.com", "Package Managers"},
    {"crates.io", "Package Managers"},
    {"static.crates.io", "Package Managers"},
    {"index.crates.io", "Package Managers"},
    {"proxy.golang.org", "Package Managers"},
    {"sum.golang.org", "Package Managers"},
    {"rubygems.org", "Package Managers"},
    {"packagist.org", "Package Managers"},
    {"repo.maven.apache.org", "Package Managers"},
    {"repo1.maven.org", "Package Managers"},
    {"nuget.org", "Package Managers"},
    {"conda.anaconda.org", "Package Managers"},
    {"anaconda.org", "Package Managers"},
    {"registry-1.docker.io", "Package Managers"},
    /* AI APIs. */
    {"api.openai.com", "AI APIs"},
    {"api.anthropic.com", "AI APIs"},
    {"generativelanguage.googleapis.com", "AI APIs"},
    {"api.mistral.ai", "AI APIs"},
    {"api.cohere.ai", "AI APIs"},
    {"api.groq.com", "AI APIs"},
    {"openrouter.ai", "AI APIs"},
    {"huggingface.co", "AI APIs"},
    {"cdn-lfs.huggingface.co", "AI APIs"},
    {"myresource.openai.azure.com", "AI APIs"},
    /* Documentation. */
    {"docs.python.org", "Documentation"},
    {"developer.mozilla.org", "Documentation"},
    {"readthedocs.io", "Documentation"},
    {"requests.readthedocs.io", "Documentation"},
    {"docs.rs", "Documentation"},
    {"stackoverflow.com", "Documentation"},
    /* Version control. */
    {"github.com", "Version Control"},
    {"api.github.com", "Version Control"},
    {"githubusercontent.com", "Version Control"},
    {"raw.githubusercontent.com", "Version Control"},
    {"gitlab.com", "Version Control"},
    {"bitbucket.org", "Version Control"},
    {"codeberg.org", "Version Control"},
    /* System: the reference's base domains and OS mirrors. */
    {"deb.debian.org", "System"},
    {"security.debian.org", "System"},
    {"ftp.de.debian.org", "System"},
    {"archive.ubuntu.com", "System"},
    {"ubuntu.com", "System"},
    {"debian.org", "System"},
    {"nodesource.com", "System"},
    {"open-vsx.org", "System"},
    {"openvsx.org", "System"},
    {"eclipsecontent.org", "System"},
    /* Cloud storage and CDNs. */
    {"storage.googleapis.com", "Cloud Storage"},
    {"s3.amazonaws.com", "Cloud Storage"},
    {"bucket.s3.amazonaws.com", "Cloud Storage"},
    {"blob.core.windows.net", "Cloud Storage"},
    {"account.blob.core.windows.net", "Cloud Storage"},
    {"cdn.jsdelivr.net", "CDN"},
    {"unpkg.com", "CDN"},
    {"cdnjs.cloudflare.com", "CDN"},
    {"fastly.net", "CDN"},
    {"global.ssl.fastly.net", "CDN"},
    /* The narrowest entry wins, in both directions. */
    {"fonts.googleapis.com", "CDN"},
    {"www.googleapis.com", "Other"},
    {"googleapis.com", "Other"},
    {"docs.npmjs.com", "Documentation"},
    {"platform.openai.com", "Documentation"},
    {"openai.com", "AI APIs"},
    {"copilot-proxy.githubusercontent.com", "AI APIs"},
    {"salsa.debian.org", "Version Control"},
    {"openvsxorg.blob.core.windows.net", "System"},
    {"static.rust-lang.org", "Package Managers"},
    {"doc.rust-lang.org", "Documentation"},
    /* Look-alikes and everything else. */
    {"evilpypi.org", "Other"},
    {"pypi.org.evil.com", "Other"},
    {"github.com.evil.com", "Other"},
    {"notgithub.com", "Other"},
    {"example.com", "Other"},
    {"org", "Other"},
    {"1.2.3.4", "Other"},
    {"::1", "Other"},
    {"", "Other"},
};

struct group_case {
    const char *host;
    int rc;
    const char *group;
};

static const struct group_case group_cases[] = {
    {"files.pythonhosted.org", 0, "pythonhosted.org"},
    {"pythonhosted.org", 0, "pythonhosted.org"},
    {"a.b.github.io", 0, "b.github.io"},
    {"b.github.io", 0, "b.github.io"},
    {"github.io", 0, "github.io"},
    {"com", 0, "com"},
    {"co.uk", 0, "co.uk"},
    {"www.bbc.co.uk", 0, "bbc.co.uk"},
    {"deep.www.example.com", 0, "example.com"},
    {"www.xn--bcher-kva.de", 0, "xn--bcher-kva.de"},
    {"storage.googleapis.com", 0, "storage.googleapis.com"},
    {"bucket.s3.amazonaws.com", 0, "bucket.s3.amazonaws.com"},
    {"localhost", 0, "localhost"},
    {"allowed.test", 0, "allowed.test"},
    {"1.2.3.4", 0, "1.2.3.4"},
    {"2001:db8::1", 0, "2001:db8::1"},
    {"", EP_E_INVAL, NULL},
    {"Example.com", EP_E_INVAL, NULL},
    {"a b.com", EP_E_INVAL, NULL},
    {"a/b.com", EP_E_INVAL, NULL},
};

int main(void)
{
    char out[EP_HOST_BUFSZ], longhost[300];
    size_t ncat = sizeof category_cases / sizeof category_cases[0];
    size_t ngroup = sizeof group_cases / sizeof group_cases[0];

    for (size_t i = 0; i < ncat; i++) {
        const char *got = ep_category_of(category_cases[i].host);

        test_checks++;
        if (strcmp(got, category_cases[i].category) != 0) {
            test_failures++;
            fprintf(stderr, "ep_category_of(\"%s\") is \"%s\", expected \"%s\"\n",
                    category_cases[i].host, got, category_cases[i].category);
        }
    }
    CHECK_STR(ep_category_of(NULL), "Other");

    /* Every answer is one of the listed names; the list has all eight, in order. */
    static const char *const expected[] = {
        "Package Managers", "AI APIs", "Cloud Storage", "Documentation",
        "Version Control",  "System",  "CDN",           "Other",
    };
    size_t nnames = 0;
    while (ep_category_names[nnames] != NULL)
        nnames++;
    CHECK_INT(nnames, 8);
    for (size_t e = 0; e < sizeof expected / sizeof expected[0]; e++) {
        bool found = false;
        for (size_t i = 0; i < nnames; i++)
            found = found || strcmp(ep_category_names[i], expected[e]) == 0;
        CHECK(found);
    }
    CHECK_STR(ep_category_names[nnames - 1], "Other");

    for (size_t i = 0; i < ngroup; i++) {
        const struct group_case *c = &group_cases[i];
        int rc;

        strcpy(out, "unset");
        rc = ep_registrable_domain(c->host, out);
        test_checks++;
        if (rc != c->rc || (rc == 0 && strcmp(out, c->group) != 0)) {
            test_failures++;
            fprintf(stderr, "ep_registrable_domain(\"%s\"): rc %d \"%s\", expected rc %d \"%s\"\n",
                    c->host, rc, out, c->rc, c->group ? c->group : "");
        }
    }
    CHECK_INT(ep_registrable_domain(NULL, out), EP_E_INVAL);
    memset(longhost, 'a', 254);
    longhost[254] = '\0';
    longhost[100] = '.';
    CHECK_INT(ep_registrable_domain(longhost, out), EP_E_INVAL);
    fprintf(stderr, "%zu category cases, %zu grouping cases\n", ncat, ngroup);
    return test_exit();
}
