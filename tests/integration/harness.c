/* The integration-test harness (see harness.h). */
#include "harness.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/addr.h"

#define START_WAIT_MS 10000
#define WRAPPER_SLOWDOWN 6
#define MAX_ARGS 96
#define LOG_TAIL 3000

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int harness_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sin;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    close(fd);
    return port;
}

/* --- the process -------------------------------------------------------- */

static void set_status(harness_daemon_t *d, int wstatus)
{
    d->exited = true;
    d->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus)
              : WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus) : 255;
}

bool harness_daemon_alive(harness_daemon_t *d)
{
    if (d->exited)
        return false;
    int ws;
    pid_t r = waitpid(d->pid, &ws, WNOHANG);
    if (r == d->pid) {
        set_status(d, ws);
        return false;
    }
    return true;
}

int harness_daemon_signal(harness_daemon_t *d, int sig)
{
    if (d->exited)
        return -1;
    return kill(d->pid, sig);
}

int harness_daemon_wait(harness_daemon_t *d, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        if (!harness_daemon_alive(d))
            return d->status;
        if (now_ms() >= deadline)
            return -1;
        sleep_ms(10);
    }
}

int harness_daemon_stop(harness_daemon_t *d, int timeout_ms)
{
    if (d->exited)
        return d->status;
    kill(d->pid, SIGTERM);
    int st = harness_daemon_wait(d, timeout_ms);
    if (st >= 0)
        return st;
    kill(d->pid, SIGKILL);
    harness_daemon_wait(d, 5000);
    return -1;
}

long harness_daemon_rss_kb(const harness_daemon_t *d)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)d->pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

char *harness_daemon_log(const harness_daemon_t *d)
{
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "");
    FILE *f = fopen(d->log_path, "r");
    if (f) {
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
            buf_append(&b, chunk, n);
        fclose(f);
    }
    return b.data;
}

void harness_daemon_dump_log(const harness_daemon_t *d, const char *why)
{
    char *log = harness_daemon_log(d);
    fprintf(stderr, "----- feedcached log (%s, pid %d, %s) -----\n%s%s----- end of log -----\n",
            why, (int)d->pid, d->log_path, log,
            *log && log[strlen(log) - 1] != '\n' ? "\n" : "");
    free(log);
}

void harness_daemon_free(harness_daemon_t *d)
{
    if (!d)
        return;
    if (harness_daemon_alive(d)) {
        kill(d->pid, SIGKILL);
        harness_daemon_wait(d, 5000);
    }
    if (!getenv("FEEDCACHE_TEST_KEEP_LOGS"))
        unlink(d->log_path);
    free(d);
}

fc_client_t *harness_connect(const harness_daemon_t *d, int timeout_ms, char *err, size_t errlen)
{
    return fc_client_connect(d->addr, timeout_ms, err, errlen);
}

/* The value of `--name V` or `--name=V` in extra, or NULL. */
static const char *flag_value(const char *const *extra, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; extra && extra[i]; i++) {
        if (strncmp(extra[i], name, n) != 0)
            continue;
        if (extra[i][n] == '=')
            return extra[i] + n + 1;
        if (extra[i][n] == '\0')
            return extra[i + 1] ? extra[i + 1] : "";
    }
    return NULL;
}

/* Appends the last LOG_TAIL bytes of the daemon's log to err. */
static void append_log_tail(const harness_daemon_t *d, char *err, size_t errlen)
{
    char *log = harness_daemon_log(d);
    size_t n = strlen(log);
    const char *tail = n > LOG_TAIL ? log + n - LOG_TAIL : log;
    size_t used = strlen(err);
    if (used < errlen)
        snprintf(err + used, errlen - used, "\n----- feedcached log (%s) -----\n%s%s",
                 d->log_path, n > LOG_TAIL ? "[...]\n" : "", *tail ? tail : "(empty)\n");
    free(log);
}

static bool pings(const char *addr)
{
    char err[256];
    fc_client_t *c = fc_client_connect(addr, 500, err, sizeof err);
    if (!c)
        return false;
    fc_client_set_timeout(c, 1000);
    fc_response_t r;
    bool ok = fc_client_call(c, "ping", NULL, &r) == FC_OK && r.ok &&
              fc_obj_str_eq(&r.result, "pong");
    fc_response_free(&r);
    fc_client_close(c);
    return ok;
}

/* Forks and execs; the child's stdout and stderr go to logfd. */
static pid_t spawn(char **argv, int logfd)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* Die with the test: a crashed or killed test leaves no daemon. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    execvp(argv[0], argv);
    fprintf(stderr, "harness: cannot execute %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* One attempt. Returns 0 ready, -1 failed (err set), 1 ports were taken. */
static int start_once(harness_daemon_t *d, const char *const *extra, char *err, size_t errlen)
{
    const char *bin = getenv("FEEDCACHED");
    if (!bin || !*bin) {
        snprintf(err, errlen, "FEEDCACHED is not set: it must name the feedcached binary");
        return -1;
    }
    char *wrapper = getenv("FEEDCACHED_WRAPPER") ? fc_xstrdup(getenv("FEEDCACHED_WRAPPER")) : NULL;
    char listen[64], mlisten[64];
    const char *argv[MAX_ARGS];
    size_t n = 0;
    char *save = NULL;
    for (char *w = wrapper ? strtok_r(wrapper, " ", &save) : NULL; w && n < 32;
         w = strtok_r(NULL, " ", &save))
        argv[n++] = w;
    argv[n++] = bin;

    const char *user_listen = flag_value(extra, "--listen");
    const char *user_mlisten = flag_value(extra, "--metrics-listen");
    if (user_listen) {
        snprintf(d->addr, sizeof d->addr, "%s", user_listen);
    } else {
        snprintf(listen, sizeof listen, "127.0.0.1:%d", harness_free_port());
        snprintf(d->addr, sizeof d->addr, "%s", listen);
        argv[n++] = "--listen";
        argv[n++] = listen;
    }
    if (user_mlisten) {
        snprintf(d->metrics_addr, sizeof d->metrics_addr, "%s",
                 strcmp(user_mlisten, "off") == 0 ? "" : user_mlisten);
    } else {
        snprintf(mlisten, sizeof mlisten, "127.0.0.1:%d", harness_free_port());
        snprintf(d->metrics_addr, sizeof d->metrics_addr, "%s", mlisten);
        argv[n++] = "--metrics-listen";
        argv[n++] = mlisten;
    }
    const char *redis = getenv("FEEDCACHE_TEST_REDIS_URL");
    const char *pg = getenv("FEEDCACHE_TEST_PG");
    if (redis && *redis) {
        argv[n++] = "--redis";
        argv[n++] = redis;
    }
    if (pg && *pg) {
        argv[n++] = "--pg";
        argv[n++] = pg;
    }
    for (size_t i = 0; extra && extra[i] && n < MAX_ARGS - 1; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;

    snprintf(d->log_path, sizeof d->log_path, "/tmp/feedcached-test-XXXXXX.log");
    int logfd = mkostemps(d->log_path, 4, O_CLOEXEC);
    if (logfd < 0) {
        snprintf(err, errlen, "cannot create a log file: %s", strerror(errno));
        free(wrapper);
        return -1;
    }
    d->pid = spawn((char **)argv, logfd);
    close(logfd);
    free(wrapper);
    if (d->pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        unlink(d->log_path);
        return -1;
    }

    int wait_ms = START_WAIT_MS * (getenv("FEEDCACHED_WRAPPER") ? WRAPPER_SLOWDOWN : 1);
    long long deadline = now_ms() + wait_ms;
    for (;;) {
        if (!harness_daemon_alive(d)) {
            char *log = harness_daemon_log(d);
            bool taken = strstr(log, "in use") != NULL;
            free(log);
            if (taken && (!user_listen || !user_mlisten))
                return 1;
            snprintf(err, errlen, "feedcached exited with status %d before answering ping",
                     d->status);
            append_log_tail(d, err, errlen);
            return -1;
        }
        if (pings(d->addr))
            return 0;
        if (now_ms() >= deadline) {
            snprintf(err, errlen, "feedcached (pid %d) did not answer ping on %s within %d ms",
                     (int)d->pid, d->addr, wait_ms);
            append_log_tail(d, err, errlen);
            kill(d->pid, SIGKILL);
            harness_daemon_wait(d, 5000);
            return -1;
        }
        sleep_ms(50);
    }
}

harness_daemon_t *harness_daemon_start(const char *const *extra, char *err, size_t errlen)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        harness_daemon_t *d = fc_xcalloc(1, sizeof *d);
        int rc = start_once(d, extra, err, errlen);
        if (rc == 0)
            return d;
        if (d->log_path[0] && !getenv("FEEDCACHE_TEST_KEEP_LOGS"))
            unlink(d->log_path);
        free(d);
        if (rc < 0)
            return NULL;
        /* rc == 1: a port we picked was taken between probe and bind. */
    }
    snprintf(err, errlen, "feedcached kept finding its ports in use");
    return NULL;
}

/* --- HTTP ----------------------------------------------------------------- */

/* A blocking socket connected to addr; SO_SNDTIMEO bounds connect too. */
static int http_connect(const char *addr, int timeout_ms, char *err, size_t errlen)
{
    addr_t a;
    char why[128];
    if (addr_parse(addr, &a, why, sizeof why) != 0) {
        snprintf(err, errlen, "bad address '%s': %s", addr, why);
        return -1;
    }
    struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
    int fd = -1;
    if (a.is_unix) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        snprintf(sun.sun_path, sizeof sun.sun_path, "%s", a.path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
            snprintf(err, errlen, "connect %s: %s", addr, strerror(errno));
            close(fd);
            return -1;
        }
        return fd;
    }
    char port[8];
    snprintf(port, sizeof port, "%d", a.port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV }, *res;
    int gai = getaddrinfo(a.host, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "resolve %s: %s", a.host, gai_strerror(gai));
        return -1;
    }
    snprintf(err, errlen, "connect %s: no address", addr);
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            snprintf(err, errlen, "connect %s: %s", addr, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

/* Decodes a chunked body in place. Returns 0, or -1 when malformed. */
static int dechunk(buf_t *body)
{
    buf_t out;
    buf_init(&out);
    buf_puts(&out, "");
    const char *p = body->data ? body->data : "", *end = p + body->len;
    for (;;) {
        char *eol;
        unsigned long size = strtoul(p, &eol, 16);
        const char *crlf = strstr(eol, "\r\n");   /* skips chunk extensions */
        if (eol == p || !crlf || crlf + 2 + size > end) {
            buf_free(&out);
            return -1;
        }
        p = crlf + 2;
        if (size == 0)
            break;
        buf_append(&out, p, size);
        p += size;
        if (p + 2 > end || memcmp(p, "\r\n", 2) != 0) {
            buf_free(&out);
            return -1;
        }
        p += 2;
    }
    buf_free(body);
    *body = out;
    return 0;
}

void harness_http_free(harness_http_t *h)
{
    buf_free(&h->headers);
    buf_free(&h->body);
}

int harness_http(const char *addr, const char *method, const char *path, int timeout_ms,
                 harness_http_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    buf_init(&out->headers);
    buf_init(&out->body);
    int fd = http_connect(addr, timeout_ms, err, errlen);
    if (fd < 0)
        return -1;
    buf_t raw;
    buf_init(&raw);
    buf_printf(&raw, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", method, path, addr);
    size_t off = 0;
    while (off < raw.len) {
        ssize_t n = send(fd, raw.data + off, raw.len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "send to %s: %s", addr, strerror(errno));
            goto fail;
        }
        off += (size_t)n;
    }
    buf_reset(&raw);
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        char chunk[8192];
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n > 0) {
            buf_append(&raw, chunk, (size_t)n);
            continue;
        }
        if (n == 0)
            break;
        if (errno == EINTR && now_ms() < deadline)
            continue;
        snprintf(err, errlen, "reading from %s: %s", addr,
                 errno == EAGAIN ? "timed out (no EOF)" : strerror(errno));
        goto fail;
    }
    const char *sep = raw.data ? strstr(raw.data, "\r\n\r\n") : NULL;
    int minor;
    if (!sep || sscanf(raw.data, "HTTP/1.%d %d", &minor, &out->status) != 2) {
        snprintf(err, errlen, "%s: not an HTTP response: '%.80s'", addr, raw.data ? raw.data : "");
        goto fail;
    }
    buf_append(&out->headers, raw.data, (size_t)(sep - raw.data) + 2);
    buf_append(&out->body, sep + 4, raw.len - (size_t)(sep + 4 - raw.data));
    /* Transfer-Encoding: chunked, in any letter case. */
    for (const char *h = out->headers.data; h && *h;) {
        if (strncasecmp(h, "transfer-encoding:", 18) == 0) {
            const char *v = h + 18;
            while (*v == ' ' || *v == '\t')
                v++;
            if (strncasecmp(v, "chunked", 7) == 0 && dechunk(&out->body) != 0) {
                snprintf(err, errlen, "%s: malformed chunked body", addr);
                goto fail;
            }
        }
        const char *eol = strstr(h, "\r\n");
        h = eol ? eol + 2 : NULL;
    }
    buf_free(&raw);
    close(fd);
    return 0;
fail:
    buf_free(&raw);
    close(fd);
    harness_http_free(out);
    return -1;
}

int harness_daemon_finish(harness_daemon_t *d, bool test_finished)
{
    int rc = 0;
    if (!harness_daemon_alive(d)) {
        fprintf(stderr, "feedcached died during the test (status %d)\n", d->status);
        rc = -1;
    } else {
        int st = harness_daemon_stop(d, 10000);
        if (st != 0) {
            fprintf(stderr, "feedcached did not exit 0 within 10 s of SIGTERM (status %d)\n", st);
            rc = -1;
        }
    }
    if (rc != 0 || !test_finished)
        harness_daemon_dump_log(d, rc != 0 ? "teardown" : "test failed");
    harness_daemon_free(d);
    return rc;
}

double harness_metric(const char *addr, const char *name, char *err, size_t errlen)
{
    harness_http_t h;
    if (harness_http(addr, "GET", "/metrics", 5000, &h, err, errlen) != 0)
        return -2;
    double v = -1;
    size_t n = strlen(name);
    for (const char *p = h.body.data; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, name, n) == 0 && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
    }
    harness_http_free(&h);
    return v;
}
