/**
 * @file engine.h
 * @brief The container engine client of egress-api: one hardened
 * code-server workspace per project, through the Docker Engine API over a
 * unix socket. One interface, two backends (engine_config.kind):
 * - ENGINE_KIND_DOCKER (the default, engine_docker.c): one engine (dockerd,
 *   or podman's compatible service), a container per workspace;
 * - ENGINE_KIND_SWARM (engine_swarm.c): a Docker Swarm manager, a
 *   one-replica service per workspace (see "Swarm" below).
 * The rest of this comment describes the single engine; the swarm backend
 * keeps the same contract with the differences listed under "Swarm".
 *
 * Each project id maps to fixed names on the engine:
 * - container `workspace-<id>`, labelled `egress-policy.project=<id>` and
 *   `egress-policy.managed-by=egress-api` (ENGINE_LABEL_PROJECT,
 *   ENGINE_LABEL_MANAGED_BY) so the API can find its containers again;
 * - named volume `workspace_data_<id>` mounted at the project directory.
 * Every call addresses the container by that name, so the caller needs to
 * keep nothing but the project id (the container id is returned for
 * display and logs).
 *
 * Every function returns an int: 0 on success, one of the ENGINE_E_* codes
 * below (negative, clear of LMDB's and the policy core's ranges), or a
 * positive errno (ENOMEM). engine_strerror() turns a code into a sentence.
 * Functions taking @p errbuf fill it, when it is not NULL, with at most
 * ENGINE_ERRBUF_SIZE bytes describing the failure: for ENGINE_E_REFUSED and
 * ENGINE_E_CONFLICT the engine's own `message`, for ENGINE_E_UNREACHABLE
 * the socket path and libcurl's reason. The text never contains a password.
 *
 * How egress-api maps the codes (issue 5): ENGINE_E_REFUSED → 502 with
 * the message; ENGINE_E_UNREACHABLE → 503; ENGINE_E_CONFLICT → 409 (a
 * container of that name exists: a leftover, nothing was changed);
 * ENGINE_E_NOTFOUND → the container is gone (project status `not_found`;
 * fine for a delete); ENGINE_E_NONETWORK → 503 naming the network and how
 * to make it (the project and its container are left as they are);
 * ENGINE_E_LIMIT → 400 naming memoryLimit/cpuCores;
 * ENGINE_E_INVAL, ENGINE_E_VERSION, ENGINE_E_PROTOCOL, ENOMEM → 500 (our
 * side or a misconfiguration; log @p errbuf).
 *
 * Caveats:
 * - Call engine_open() before starting threads: it runs
 *   curl_global_init(). After that, one struct engine may be used from
 *   any number of threads at once: it is read-only after open and every
 *   call uses its own curl handle.
 * - Calls block until the engine answers. engine_stop() and
 *   engine_write_auth() on a running workspace wait up to the configured
 *   stop timeout for the workspace to exit; keep them off latency-critical
 *   paths.
 * - The engine is the authority on container state. The API must change
 *   its own store only after the engine call succeeded (e.g. the password
 *   hash only after engine_write_auth() returned 0).
 * - Two calls for the same project at once are not serialised here; the
 *   caller serialises lifecycle actions per project.
 * - engine_create() removes what it made when a later step fails, but
 *   never a volume that existed before the call (it may hold a user's
 *   files from an earlier workspace of the same id).
 * - Workspaces get no restart policy: when the engine restarts they are
 *   stopped, and egress-api's reconciliation (engine_list()) sees that.
 * - The chosen API version may be above ENGINE_API_PREFERRED when the
 *   engine accepts nothing older (Docker 29: 1.44 and up); everything we
 *   send and read is unchanged there.
 * - Errors are told apart by what the engine says, not by the HTTP status
 *   alone: both engines answer 404 for a missing container, a missing
 *   network, a missing image and a missing path, and only the first is
 *   ENGINE_E_NOTFOUND. A client must never take a 404 for a vanished
 *   container.
 * - Containers are found by name; a foreign container that happens to be
 *   named `workspace-<id>` would be treated as ours. Give egress-api an
 *   engine (or at least a name space) of its own.
 *
 * Swarm (ENGINE_KIND_SWARM; cfg.socket_path is a manager's engine):
 * - A workspace is the service `workspace-<id>` (same labels), one replica
 *   of a container with the same hardening (user, CapabilityDrop ALL, the
 *   /tmp tmpfs, which the engine mounts noexec,nosuid,nodev, pids, memory
 *   and CPU limits, the volume); half the memory is a scheduling reservation
 *   (the node must have it free), not the container's soft limit. API 1.41 has no
 *   per-service no-new-privileges and no MemorySwap: every node's dockerd
 *   must run with --no-new-privileges (docs/cluster.md), and swap is
 *   the engine's default (twice the memory limit where the host has swap).
 * - engine_create() makes the service with 0 replicas; engine_start() scales
 *   it to 1 and waits for its task to run; engine_stop() scales it to 0 and
 *   waits for the task to end. The task runs on a node cfg.swarm_constraints
 *   allow (placement by node labels); its volume is that node's.
 * - The password file is a swarm secret `workspace-<id>-auth-<n>` mounted at
 *   cfg.auth_path (0600, uid:gid). engine_write_auth() makes a new secret,
 *   updates the service to it (a running workspace is replaced by a new
 *   task, which reads it), and removes the old one; engine_remove() removes
 *   the service and its secrets.
 * - cfg.network must be a swarm-scoped network (a bridge made with
 *   --config-from a per-node config-only network: one subnet per node, so a
 *   workspace's address is unique in the cluster).
 * - The state comes from the service's task on the manager ("created" until
 *   a task of the service ever had a container, as a never-started
 *   container is "created" on one engine). The address and
 *   the container id do not: a swarm-scoped bridge's addresses are given by
 *   each node's own engine. With cfg.swarm_node_engines naming the engine of
 *   the task's node, the backend reads them there (and hands the project
 *   directory to uid:gid, as engine_create() does on one engine); without
 *   it the address is "" (the node's egress-node maps it) and the project
 *   directory keeps the ownership the image gives it.
 * - Capture (cfg.capture_ca_dir) is refused by engine_open() for now.
 */
#ifndef API_ENGINE_H
#define API_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** @name Error codes (negative, below the policy core's EP_E_* range) */
/** @{ */
#define ENGINE_E_BASE        (-33000)
#define ENGINE_E_UNREACHABLE (ENGINE_E_BASE - 1) /**< socket absent, refused or timed out */
#define ENGINE_E_REFUSED     (ENGINE_E_BASE - 2) /**< the engine answered with an error */
#define ENGINE_E_NOTFOUND    (ENGINE_E_BASE - 3) /**< no such workspace container */
#define ENGINE_E_CONFLICT    (ENGINE_E_BASE - 4) /**< the container name is already taken */
#define ENGINE_E_VERSION     (ENGINE_E_BASE - 5) /**< no API version both sides speak */
#define ENGINE_E_PROTOCOL    (ENGINE_E_BASE - 6) /**< the engine's answer could not be read */
#define ENGINE_E_LIMIT       (ENGINE_E_BASE - 7) /**< memory or CPU above the server maximum */
#define ENGINE_E_INVAL       (ENGINE_E_BASE - 8) /**< bad project id or configuration */
#define ENGINE_E_NONETWORK   (ENGINE_E_BASE - 9) /**< the workspace network does not exist */
/** @} */

#define ENGINE_ERRBUF_SIZE   512 /**< size of every errbuf argument */
#define ENGINE_ID_MAX        64  /**< project ids: 1..64 of [A-Za-z0-9_.-], first alphanumeric */
#define ENGINE_CONTAINER_MAX 64  /**< a container id: 64 hex digits */
#define ENGINE_IP_MAX        45  /**< INET6_ADDRSTRLEN - 1 */

#define ENGINE_LABEL_PROJECT    "egress-policy.project"
#define ENGINE_LABEL_MANAGED_BY "egress-policy.managed-by"
#define ENGINE_MANAGED_BY       "egress-api"

/** Highest Docker Engine API version this client is written against. */
#define ENGINE_API_PREFERRED "1.43"
/** Lowest version that has everything we send (Mounts, NanoCpus, PidsLimit). */
#define ENGINE_API_OLDEST "1.25"

/**
 * @name Defaults
 * The one place of each default of the engine's configuration:
 * engine_config_defaults() and egress-api's options (and --help) read them.
 */
/** @{ */
#define ENGINE_DEFAULT_SOCKET        "/var/run/docker.sock"
#define ENGINE_DEFAULT_IMAGE         "codercom/code-server:latest"
#define ENGINE_DEFAULT_NETWORK       "egress-ws"   /* contrib/network/egress-net up */
#define ENGINE_DEFAULT_MEMORY        (2ULL << 30)  /**< 2 GiB */
#define ENGINE_DEFAULT_MEMORY_MAX    (16ULL << 30) /**< 16 GiB */
#define ENGINE_DEFAULT_NANO_CPUS     1000000000ULL /**< 1 CPU */
#define ENGINE_DEFAULT_NANO_CPUS_MAX 8000000000ULL /**< 8 CPUs */
#define ENGINE_NANO_CPUS_MIN         10000000ULL   /**< 0.01 CPU: the least a workspace is given */
#define ENGINE_DEFAULT_PIDS_LIMIT    1024
#define ENGINE_DEFAULT_STOP_TIMEOUT  10
/** @} */

/** Which backend: one engine or a swarm (see the file comment). */
enum engine_kind {
    ENGINE_KIND_DOCKER = 0, /**< one engine, a container per workspace (the default) */
    ENGINE_KIND_SWARM = 1,  /**< a swarm manager, a one-replica service per workspace */
};

/** Label of a swarm node naming it for cfg.swarm_node_engines (else its hostname). */
#define ENGINE_SWARM_NODE_LABEL "egress-policy.node"

/**
 * Server configuration. Start from engine_config_defaults() and override
 * fields; strings are borrowed and must outlive the engine.
 */
struct engine_config {
    const char *socket_path; /**< default ENGINE_DEFAULT_SOCKET */
    const char *image;       /**< workspace image, e.g. "codercom/code-server:latest" */
    const char *network; /**< NetworkMode and the network whose IP is reported; default "bridge" */
    const char *proxy_url; /**< HTTP(S)_PROXY in both cases; NULL = no proxy variables */
    const char *no_proxy;  /**< NO_PROXY in both cases; NULL = not set */
    /** argv replacing the image's CMD (NULL-terminated); NULL = the image's own entrypoint and
     * command. */
    const char *const *command;
    /**
     * Capabilities added back after dropping ALL (NULL-terminated names such
     * as "CHOWN"); NULL = none. engine_open() refuses ALL, NET_RAW,
     * NET_ADMIN and SYS_ADMIN with ENGINE_E_INVAL.
     */
    const char *const *cap_add;
    const char *project_dir; /**< volume mount point; default "/home/coder/project" */
    const char
        *auth_path; /**< code-server auth override; default "/home/coder/.code-server-auth" */
    unsigned uid;   /**< workspace user; default 1000 */
    unsigned gid;   /**< workspace group; default 1000 */
    uint64_t memory_default; /**< bytes when a project asks for 0; ENGINE_DEFAULT_MEMORY */
    uint64_t memory_max;     /**< largest accepted; ENGINE_DEFAULT_MEMORY_MAX */
    uint64_t
        nano_cpus_default;  /**< 1e-9 CPUs when a project asks for 0; ENGINE_DEFAULT_NANO_CPUS */
    uint64_t nano_cpus_max; /**< largest accepted; ENGINE_DEFAULT_NANO_CPUS_MAX */
    int64_t pids_limit;     /**< PidsLimit; ENGINE_DEFAULT_PIDS_LIMIT */
    const char *tmp_size;   /**< /tmp tmpfs size, digits and an optional k/m/g; default "1G" */
    unsigned stop_timeout;  /**< seconds before SIGKILL on stop; ENGINE_DEFAULT_STOP_TIMEOUT */
    long timeout_ms;        /**< limit for one request, on top of stop_timeout; default 60000 */
    /**
     * LLM capture: the egress-ca directory (ca.pem, bundle.pem, system.pem);
     * NULL = workspaces get no CA settings. When set, every workspace gets
     * SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE (ENGINE_CA_DIR/bundle.pem)
     * and NODE_EXTRA_CA_CERTS (ENGINE_CA_DIR/extra.pem); engine_write_ca()
     * decides what those files hold.
     */
    const char *capture_ca_dir;
    enum engine_kind kind; /**< ENGINE_KIND_DOCKER by default */
    /**
     * Swarm: the placement constraints of every workspace service
     * (NULL-terminated, swarm syntax, e.g.
     * "node.labels.egress-policy.pool==course-a"); NULL = any node.
     */
    const char *const *swarm_constraints;
    /**
     * Swarm: "NODE=SOCKET" entries (NULL-terminated): the unix socket of the
     * engine of each node, NODE being the node's ENGINE_SWARM_NODE_LABEL
     * label or, without one, its hostname. NULL = none (see the file comment).
     */
    const char *const *swarm_node_engines;
};

/** Where engine_write_ca() puts the CA files inside a workspace. */
#define ENGINE_CA_DIR "/etc/egress-policy-ca"

/** Fill @p cfg with the defaults documented above. */
void engine_config_defaults(struct engine_config *cfg);

/** Opaque handle: the configuration and the API version agreed with the engine. */
struct engine;

/** A workspace as the engine sees it. */
enum engine_state {
    ENGINE_STATE_STOPPED = 0, /**< created, exited, paused, dead: no traffic */
    ENGINE_STATE_RUNNING = 1,
};

struct engine_workspace {
    char project_id[ENGINE_ID_MAX + 1];
    char container_id[ENGINE_CONTAINER_MAX + 1];
    enum engine_state state;
    char status[16];            /**< the engine's own word: "created", "running", "exited"... */
    char ip[ENGINE_IP_MAX + 1]; /**< "" when the workspace has no address */
};

/**
 * Connect to the engine and agree on an API version: an unversioned
 * GET /version gives the engine's range [MinAPIVersion, ApiVersion]; we use
 * ENGINE_API_PREFERRED clamped into that range.
 * @return 0 and *out, ENGINE_E_UNREACHABLE, ENGINE_E_VERSION (the engine is
 * older than ENGINE_API_OLDEST), ENGINE_E_PROTOCOL, ENGINE_E_INVAL (bad
 * configuration, named in @p errbuf), ENOMEM.
 */
int engine_open(const struct engine_config *cfg, struct engine **out, char *errbuf);

/** Release @p engine (NULL is fine). */
void engine_close(struct engine *engine);

/** The backend in use: "docker" or "swarm". */
const char *engine_kind_name(const struct engine *engine);

/** The API version in use, e.g. "1.41". */
const char *engine_api_version(const struct engine *engine);

/**
 * Does the workspace network cfg->network exist on the engine? egress-api
 * asks at start-up (and engine_create() before making anything), so a
 * missing network is named with how to make it rather than found out by
 * the first start.
 * @return 0, ENGINE_E_NONETWORK (@p errbuf names the network, `egress-net
 * up` and --workspace-network), ENGINE_E_REFUSED, ENGINE_E_UNREACHABLE,
 * ENOMEM.
 */
int engine_network_check(struct engine *engine, char *errbuf);

/**
 * Create the workspace of @p project_id, stopped, and write its auth
 * override file. Steps: the volume `workspace_data_<id>` (created unless it
 * exists), the container `workspace-<id>` with the full hardening (user
 * uid:gid, no-new-privileges, CapDrop ALL + cfg->cap_add, /tmp tmpfs
 * `size=…,noexec,nosuid,nodev`, NanoCpus, Memory = MemorySwap, half of it
 * as MemoryReservation, PidsLimit, NetworkMode, labels, proxy environment,
 * no secret in the environment), the project directory handed to uid:gid,
 * and the auth file (see engine_write_auth()) uploaded before any start.
 * If any step fails the container and a volume made by this call are
 * removed again.
 * @param memory_bytes 0 for the default; above cfg->memory_max → ENGINE_E_LIMIT
 * @param nano_cpus 0 for the default; above cfg->nano_cpus_max → ENGINE_E_LIMIT
 * @param password code-server password, or NULL for no password (AUTH_FLAG=none)
 * @param container_id receives the new container's id
 * @return 0, ENGINE_E_CONFLICT (a container of that name exists; it is left
 * as it was), ENGINE_E_NONETWORK (checked first: nothing is made),
 * ENGINE_E_REFUSED (e.g. no such image: the engine's message),
 * ENGINE_E_UNREACHABLE, ENGINE_E_LIMIT, ENGINE_E_INVAL, ENOMEM.
 */
int engine_create(struct engine *engine, const char *project_id, uint64_t memory_bytes,
                  uint64_t nano_cpus, const char *password,
                  char container_id[ENGINE_CONTAINER_MAX + 1], char *errbuf);

/**
 * Start the workspace (already running is fine) and read its IP on
 * cfg->network from inspect.
 * @param ip receives the address, "" if the engine gave none
 * @return 0, ENGINE_E_NOTFOUND, ENGINE_E_NONETWORK (the container exists,
 * its network does not; dockerd checks only here), ENGINE_E_REFUSED,
 * ENGINE_E_UNREACHABLE.
 */
int engine_start(struct engine *engine, const char *project_id, char ip[ENGINE_IP_MAX + 1],
                 char *errbuf);

/**
 * Stop the workspace (already stopped is fine): SIGTERM, then SIGKILL after
 * cfg->stop_timeout seconds.
 * @return 0, ENGINE_E_NOTFOUND, ENGINE_E_REFUSED, ENGINE_E_UNREACHABLE.
 */
int engine_stop(struct engine *engine, const char *project_id, char *errbuf);

/**
 * Remove the workspace container, running or not; with @p purge_volume
 * also its volume (the user's files). The volume is purged even when the
 * container was already gone.
 * @return 0, ENGINE_E_NOTFOUND (there was no container; the volume was
 * still purged if asked), ENGINE_E_REFUSED, ENGINE_E_UNREACHABLE.
 */
int engine_remove(struct engine *engine, const char *project_id, bool purge_volume, char *errbuf);

/**
 * Write the code-server auth override file into the workspace: cfg->auth_path,
 * mode 0600, owner uid:gid, containing `AUTH_FLAG=password` and
 * `export PASSWORD='…'` (single quotes written as '\'') or, with @p password
 * NULL, `AUTH_FLAG=none`. A running workspace is restarted so code-server
 * reads it, and its (possibly new) IP is returned; a stopped one keeps the
 * file for its next start and @p ip is "".
 * @return 0, ENGINE_E_NOTFOUND, ENGINE_E_NONETWORK (the restart),
 * ENGINE_E_REFUSED, ENGINE_E_UNREACHABLE, ENOMEM. On an error after the upload (the restart failed)
 * the new file is in place: the caller should still treat the change as failed.
 */
int engine_write_auth(struct engine *engine, const char *project_id, const char *password,
                      char ip[ENGINE_IP_MAX + 1], char *errbuf);

/**
 * Write the trust files of the workspace (cfg->capture_ca_dir set; 0 and
 * nothing otherwise) into ENGINE_CA_DIR, running or not: with @p capture
 * (a logging project) bundle.pem is the system bundle plus the capture CA
 * and extra.pem the capture CA; without, both are the system bundle alone,
 * so no other workspace trusts the CA. Processes started afterwards read
 * them (Node reads NODE_EXTRA_CA_CERTS once, at its start).
 * @return 0, ENGINE_E_NOTFOUND, ENGINE_E_REFUSED, ENGINE_E_UNREACHABLE,
 * ENGINE_E_INVAL (a file of capture_ca_dir cannot be read), ENOMEM.
 */
int engine_write_ca(struct engine *engine, const char *project_id, bool capture, char *errbuf);

/**
 * One workspace's state, container id and IP.
 * @return 0, ENGINE_E_NOTFOUND, ENGINE_E_REFUSED, ENGINE_E_UNREACHABLE,
 * ENGINE_E_PROTOCOL.
 */
int engine_inspect(struct engine *engine, const char *project_id, struct engine_workspace *out,
                   char *errbuf);

/**
 * Every container carrying our labels, running or not, in one engine call:
 * for project listings and reconciliation at start-up. Containers whose
 * project label is missing or not a valid id are skipped.
 * @param out receives an array to release with engine_list_free() (NULL when empty)
 * @return 0, ENGINE_E_REFUSED, ENGINE_E_UNREACHABLE, ENGINE_E_PROTOCOL, ENOMEM.
 */
int engine_list(struct engine *engine, struct engine_workspace **out, size_t *count, char *errbuf);

/** Release an array from engine_list() (NULL is fine). */
void engine_list_free(struct engine_workspace *list);

/** A sentence for any code these functions return (never NULL). */
const char *engine_strerror(int err);

#endif
