/*
 * Categories and registrable domains of recorded hosts, for the teacher's
 * review: what a host is for, and which hosts belong together.
 *
 * The table below lists domains by category, in the order a reader looks
 * for them. A host belongs to the category of the longest table entry it
 * equals or is a subdomain of, so a narrow entry (storage.googleapis.com,
 * docs.npmjs.com) overrides a broad one (generativelanguage.googleapis.com
 * does not make all of googleapis.com an AI API; npmjs.com is a package
 * registry). The lookup walks the host's ancestors from the host itself
 * upwards and binary-searches a sorted copy of the table for each, so it
 * costs a few comparisons per label, not a scan of the table.
 */
#include "config.h"

#include <libpsl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "policy/category.h"
#include "policy/error.h"
#include "policy/host.h"

enum category {
    CAT_PACKAGES,
    CAT_AI,
    CAT_DOCS,
    CAT_VCS,
    CAT_SYSTEM,
    CAT_STORAGE,
    CAT_CDN,
    CAT_OTHER,
};

const char *const ep_category_names[] = {
    [CAT_PACKAGES] = "Package Managers",
    [CAT_AI] = "AI APIs",
    [CAT_DOCS] = "Documentation",
    [CAT_VCS] = "Version Control",
    [CAT_SYSTEM] = "System",
    [CAT_STORAGE] = "Cloud Storage",
    [CAT_CDN] = "CDN",
    [CAT_OTHER] = "Other",
    NULL,
};

struct category_entry {
    const char *domain;
    enum category category;
};

/* Sorted by domain on first use (sort_table); each domain appears once. */
static struct category_entry table[] = {
    /* Language package registries, their download hosts and container registries. */
    {"pypi.org", CAT_PACKAGES},
    {"pypi.python.org", CAT_PACKAGES},
    {"pythonhosted.org", CAT_PACKAGES},
    {"files.pythonhosted.org", CAT_PACKAGES},
    {"download.pytorch.org", CAT_PACKAGES},
    {"registry.npmjs.org", CAT_PACKAGES},
    {"npmjs.com", CAT_PACKAGES},
    {"npmjs.org", CAT_PACKAGES},
    {"yarnpkg.com", CAT_PACKAGES},
    {"registry.yarnpkg.com", CAT_PACKAGES},
    {"repo.yarnpkg.com", CAT_PACKAGES},
    {"jsr.io", CAT_PACKAGES},
    {"deno.land", CAT_PACKAGES},
    {"crates.io", CAT_PACKAGES},
    {"static.crates.io", CAT_PACKAGES},
    {"index.crates.io", CAT_PACKAGES},
    {"static.rust-lang.org", CAT_PACKAGES},
    {"sh.rustup.rs", CAT_PACKAGES},
    {"proxy.golang.org", CAT_PACKAGES},
    {"sum.golang.org", CAT_PACKAGES},
    {"index.golang.org", CAT_PACKAGES},
    {"gopkg.in", CAT_PACKAGES},
    {"rubygems.org", CAT_PACKAGES},
    {"index.rubygems.org", CAT_PACKAGES},
    {"packagist.org", CAT_PACKAGES},
    {"repo.packagist.org", CAT_PACKAGES},
    {"getcomposer.org", CAT_PACKAGES},
    {"repo.maven.apache.org", CAT_PACKAGES},
    {"repo1.maven.org", CAT_PACKAGES},
    {"central.sonatype.com", CAT_PACKAGES},
    {"oss.sonatype.org", CAT_PACKAGES},
    {"plugins.gradle.org", CAT_PACKAGES},
    {"services.gradle.org", CAT_PACKAGES},
    {"downloads.gradle.org", CAT_PACKAGES},
    {"nuget.org", CAT_PACKAGES},
    {"api.nuget.org", CAT_PACKAGES},
    {"conda.anaconda.org", CAT_PACKAGES},
    {"anaconda.org", CAT_PACKAGES},
    {"repo.anaconda.com", CAT_PACKAGES},
    {"conda-forge.org", CAT_PACKAGES},
    {"cran.r-project.org", CAT_PACKAGES},
    {"cloud.r-project.org", CAT_PACKAGES},
    {"hackage.haskell.org", CAT_PACKAGES},
    {"hex.pm", CAT_PACKAGES},
    {"repo.hex.pm", CAT_PACKAGES},
    {"pub.dev", CAT_PACKAGES},
    {"cocoapods.org", CAT_PACKAGES},
    {"cdn.cocoapods.org", CAT_PACKAGES},
    {"opam.ocaml.org", CAT_PACKAGES},
    {"cpan.org", CAT_PACKAGES},
    {"metacpan.org", CAT_PACKAGES},
    {"luarocks.org", CAT_PACKAGES},
    {"registry.terraform.io", CAT_PACKAGES},
    {"docker.io", CAT_PACKAGES},
    {"registry-1.docker.io", CAT_PACKAGES},
    {"auth.docker.io", CAT_PACKAGES},
    {"production.cloudflare.docker.com", CAT_PACKAGES},
    {"ghcr.io", CAT_PACKAGES},
    {"quay.io", CAT_PACKAGES},
    {"gcr.io", CAT_PACKAGES},
    {"mcr.microsoft.com", CAT_PACKAGES},

    /* Hosted AI model APIs and model hubs. */
    {"api.openai.com", CAT_AI},
    {"openai.com", CAT_AI},
    {"chatgpt.com", CAT_AI},
    {"api.anthropic.com", CAT_AI},
    {"anthropic.com", CAT_AI},
    {"claude.ai", CAT_AI},
    {"generativelanguage.googleapis.com", CAT_AI},
    {"aiplatform.googleapis.com", CAT_AI},
    {"gemini.google.com", CAT_AI},
    {"api.mistral.ai", CAT_AI},
    {"mistral.ai", CAT_AI},
    {"api.cohere.ai", CAT_AI},
    {"api.cohere.com", CAT_AI},
    {"cohere.ai", CAT_AI},
    {"api.groq.com", CAT_AI},
    {"openrouter.ai", CAT_AI},
    {"huggingface.co", CAT_AI},
    {"hf.co", CAT_AI},
    {"api.together.xyz", CAT_AI},
    {"api.together.ai", CAT_AI},
    {"api.fireworks.ai", CAT_AI},
    {"api.deepseek.com", CAT_AI},
    {"api.perplexity.ai", CAT_AI},
    {"api.x.ai", CAT_AI},
    {"replicate.com", CAT_AI},
    {"api.replicate.com", CAT_AI},
    {"api.deepinfra.com", CAT_AI},
    {"openai.azure.com", CAT_AI},
    {"cognitiveservices.azure.com", CAT_AI},
    {"ollama.com", CAT_AI},
    {"githubcopilot.com", CAT_AI},
    {"api.githubcopilot.com", CAT_AI},
    {"copilot-proxy.githubusercontent.com", CAT_AI},
    {"codeium.com", CAT_AI},
    {"api.codeium.com", CAT_AI},
    {"tabnine.com", CAT_AI},
    {"cursor.sh", CAT_AI},

    /* Language and library documentation, references and Q&A. */
    {"docs.python.org", CAT_DOCS},
    {"python.org", CAT_DOCS},
    {"developer.mozilla.org", CAT_DOCS},
    {"readthedocs.io", CAT_DOCS},
    {"readthedocs.org", CAT_DOCS},
    {"docs.rs", CAT_DOCS},
    {"doc.rust-lang.org", CAT_DOCS},
    {"rust-lang.org", CAT_DOCS},
    {"stackoverflow.com", CAT_DOCS},
    {"stackexchange.com", CAT_DOCS},
    {"sstatic.net", CAT_DOCS},
    {"docs.github.com", CAT_DOCS},
    {"docs.docker.com", CAT_DOCS},
    {"docs.npmjs.com", CAT_DOCS},
    {"pkg.go.dev", CAT_DOCS},
    {"go.dev", CAT_DOCS},
    {"golang.org", CAT_DOCS},
    {"nodejs.org", CAT_DOCS},
    {"docs.oracle.com", CAT_DOCS},
    {"learn.microsoft.com", CAT_DOCS},
    {"docs.microsoft.com", CAT_DOCS},
    {"w3schools.com", CAT_DOCS},
    {"devdocs.io", CAT_DOCS},
    {"man7.org", CAT_DOCS},
    {"cppreference.com", CAT_DOCS},
    {"docs.djangoproject.com", CAT_DOCS},
    {"palletsprojects.com", CAT_DOCS},
    {"numpy.org", CAT_DOCS},
    {"pydata.org", CAT_DOCS},
    {"scipy.org", CAT_DOCS},
    {"matplotlib.org", CAT_DOCS},
    {"pytorch.org", CAT_DOCS},
    {"tensorflow.org", CAT_DOCS},
    {"react.dev", CAT_DOCS},
    {"reactjs.org", CAT_DOCS},
    {"vuejs.org", CAT_DOCS},
    {"angular.dev", CAT_DOCS},
    {"angular.io", CAT_DOCS},
    {"nextjs.org", CAT_DOCS},
    {"typescriptlang.org", CAT_DOCS},
    {"kotlinlang.org", CAT_DOCS},
    {"spring.io", CAT_DOCS},
    {"kubernetes.io", CAT_DOCS},
    {"docs.aws.amazon.com", CAT_DOCS},
    {"cloud.google.com", CAT_DOCS},
    {"ai.google.dev", CAT_DOCS},
    {"platform.openai.com", CAT_DOCS},
    {"docs.anthropic.com", CAT_DOCS},
    {"code.visualstudio.com", CAT_DOCS},
    {"gnu.org", CAT_DOCS},
    {"wikipedia.org", CAT_DOCS},
    {"geeksforgeeks.org", CAT_DOCS},
    {"javadoc.io", CAT_DOCS},
    {"hexdocs.pm", CAT_DOCS},

    /* Source hosting and its asset and download hosts. */
    {"github.com", CAT_VCS},
    {"api.github.com", CAT_VCS},
    {"codeload.github.com", CAT_VCS},
    {"githubusercontent.com", CAT_VCS},
    {"raw.githubusercontent.com", CAT_VCS},
    {"objects.githubusercontent.com", CAT_VCS},
    {"githubassets.com", CAT_VCS},
    {"gitlab.com", CAT_VCS},
    {"bitbucket.org", CAT_VCS},
    {"codeberg.org", CAT_VCS},
    {"sourceforge.net", CAT_VCS},
    {"sr.ht", CAT_VCS},
    {"gitea.com", CAT_VCS},
    {"gitee.com", CAT_VCS},
    {"launchpad.net", CAT_VCS},
    {"git.kernel.org", CAT_VCS},
    {"savannah.gnu.org", CAT_VCS},
    {"salsa.debian.org", CAT_VCS},
    {"pagure.io", CAT_VCS},

    /* Operating system packages, editor extensions, certificates: the base domains' kind. */
    {"deb.debian.org", CAT_SYSTEM},
    {"security.debian.org", CAT_SYSTEM},
    {"debian.org", CAT_SYSTEM},
    {"archive.ubuntu.com", CAT_SYSTEM},
    {"security.ubuntu.com", CAT_SYSTEM},
    {"ports.ubuntu.com", CAT_SYSTEM},
    {"ubuntu.com", CAT_SYSTEM},
    {"ppa.launchpad.net", CAT_SYSTEM},
    {"launchpadcontent.net", CAT_SYSTEM},
    {"nodesource.com", CAT_SYSTEM},
    {"deb.nodesource.com", CAT_SYSTEM},
    {"open-vsx.org", CAT_SYSTEM},
    {"openvsx.org", CAT_SYSTEM},
    {"eclipsecontent.org", CAT_SYSTEM},
    {"openvsxorg.blob.core.windows.net", CAT_SYSTEM},
    {"marketplace.visualstudio.com", CAT_SYSTEM},
    {"gallerycdn.vsassets.io", CAT_SYSTEM},
    {"update.code.visualstudio.com", CAT_SYSTEM},
    {"vscode-cdn.net", CAT_SYSTEM},
    {"packages.microsoft.com", CAT_SYSTEM},
    {"download.docker.com", CAT_SYSTEM},
    {"alpinelinux.org", CAT_SYSTEM},
    {"dl-cdn.alpinelinux.org", CAT_SYSTEM},
    {"fedoraproject.org", CAT_SYSTEM},
    {"centos.org", CAT_SYSTEM},
    {"rockylinux.org", CAT_SYSTEM},
    {"archlinux.org", CAT_SYSTEM},
    {"opensuse.org", CAT_SYSTEM},
    {"snapcraft.io", CAT_SYSTEM},
    {"flathub.org", CAT_SYSTEM},
    {"apt.llvm.org", CAT_SYSTEM},
    {"ntp.org", CAT_SYSTEM},
    {"letsencrypt.org", CAT_SYSTEM},
    {"lencr.org", CAT_SYSTEM},
    {"digicert.com", CAT_SYSTEM},
    {"pki.goog", CAT_SYSTEM},
    {"sectigo.com", CAT_SYSTEM},
    {"globalsign.com", CAT_SYSTEM},

    /* Object storage endpoints. */
    {"storage.googleapis.com", CAT_STORAGE},
    {"storage.cloud.google.com", CAT_STORAGE},
    {"s3.amazonaws.com", CAT_STORAGE},
    {"s3.us-east-1.amazonaws.com", CAT_STORAGE},
    {"s3.us-east-2.amazonaws.com", CAT_STORAGE},
    {"s3.us-west-2.amazonaws.com", CAT_STORAGE},
    {"s3.eu-west-1.amazonaws.com", CAT_STORAGE},
    {"s3.eu-central-1.amazonaws.com", CAT_STORAGE},
    {"blob.core.windows.net", CAT_STORAGE},
    {"r2.cloudflarestorage.com", CAT_STORAGE},
    {"r2.dev", CAT_STORAGE},
    {"backblazeb2.com", CAT_STORAGE},
    {"digitaloceanspaces.com", CAT_STORAGE},
    {"dropboxusercontent.com", CAT_STORAGE},

    /* Content delivery networks and public script CDNs. */
    {"cdn.jsdelivr.net", CAT_CDN},
    {"jsdelivr.net", CAT_CDN},
    {"unpkg.com", CAT_CDN},
    {"cdnjs.cloudflare.com", CAT_CDN},
    {"esm.sh", CAT_CDN},
    {"skypack.dev", CAT_CDN},
    {"fastly.net", CAT_CDN},
    {"fastlylb.net", CAT_CDN},
    {"cloudfront.net", CAT_CDN},
    {"akamaized.net", CAT_CDN},
    {"akamaihd.net", CAT_CDN},
    {"akamai.net", CAT_CDN},
    {"edgekey.net", CAT_CDN},
    {"edgesuite.net", CAT_CDN},
    {"azureedge.net", CAT_CDN},
    {"b-cdn.net", CAT_CDN},
    {"fonts.googleapis.com", CAT_CDN},
    {"ajax.googleapis.com", CAT_CDN},
    {"fonts.gstatic.com", CAT_CDN},
    {"gstatic.com", CAT_CDN},
    {"code.jquery.com", CAT_CDN},
    {"bootstrapcdn.com", CAT_CDN},
};

#define TABLE_LEN (sizeof table / sizeof table[0])

static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static int entry_cmp(const void *a, const void *b)
{
    const struct category_entry *x = a, *y = b;

    return strcmp(x->domain, y->domain);
}

static void sort_table(void)
{
    qsort(table, TABLE_LEN, sizeof table[0], entry_cmp);
}

static int key_cmp(const void *key, const void *entry)
{
    return strcmp(key, ((const struct category_entry *)entry)->domain);
}

const char *ep_category_of(const char *host)
{
    if (host == NULL || host[0] == '\0' || ep_host_kind_of(host) != EP_HOST_NAME)
        return ep_category_names[CAT_OTHER];
    pthread_once(&table_once, sort_table);
    /* The host itself first, then each parent: the first hit is the narrowest entry. */
    for (const char *candidate = host; candidate != NULL;) {
        const struct category_entry *hit =
            bsearch(candidate, table, TABLE_LEN, sizeof table[0], key_cmp);

        if (hit != NULL)
            return ep_category_names[hit->category];
        candidate = strchr(candidate, '.');
        if (candidate != NULL)
            candidate++;
    }
    return ep_category_names[CAT_OTHER];
}

/*
 * The registrable domain ("eTLD+1") by libpsl, private suffixes included,
 * so a.b.github.io groups under b.github.io, not under github.io with
 * every other user's pages. A host libpsl gives no answer for (a public
 * suffix itself, a single label) and IP literals stand alone.
 */
int ep_registrable_domain(const char *host, char *out)
{
    const psl_ctx_t *psl = psl_builtin();
    const char *reg = NULL;
    size_t len;

    if (host == NULL || out == NULL)
        return EP_E_INVAL;
    len = strlen(host);
    if (len == 0 || len > EP_HOST_MAX)
        return EP_E_INVAL;
    for (size_t i = 0; i < len; i++) {
        char c = host[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.' || c == ':'))
            return EP_E_INVAL;
    }
    if (psl != NULL && ep_host_kind_of(host) == EP_HOST_NAME)
        reg = psl_registrable_domain(psl, host);
    memcpy(out, reg ? reg : host, strlen(reg ? reg : host) + 1);
    return 0;
}
