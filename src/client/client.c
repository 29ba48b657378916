/* The client connection: a non-blocking socket driven by poll(), so every
 * wait has a deadline, and a msgpack_unpacker for framing responses.
 *
 * Output is queued in `out` and written by flush(). While flush waits for the
 * socket to become writable it also reads whatever responses have arrived:
 * a pipelining caller that writes a lot before reading would otherwise
 * deadlock once both sides' socket buffers are full. A timed-out flush keeps
 * the unwritten tail queued, so frames are never cut and the connection stays
 * usable. */
#include "feedcache/client.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/client_int.h"
#include "util/buf.h"

#define READ_CHUNK (64 * 1024)

/* Responses that arrived while fc_client_call waited for another msgid. */
typedef struct stash {
    fc_response_t r;
    struct stash *next;
} stash_t;

struct fc_client {
    int fd;
    int timeout_ms;
    uint32_t next_msgid;
    bool corked;
    bool eof;          /* the server closed its side: nothing more will arrive */
    bool wclosed;      /* writing failed with EPIPE/ECONNRESET */
    int dead;          /* FC_EIO or FC_EPROTO once the stream is unusable, else 0 */
    msgpack_sbuffer out;
    size_t out_off;    /* bytes of out already written */
    msgpack_packer pk;
    msgpack_unpacker unp;
    stash_t *stash_head, *stash_tail;
    char *addr;
    char closed_why[128];  /* how the server side closed, for the ECLOSED message */
    char err[256];
};

/* --- errors ------------------------------------------------------------ */

static int fail(fc_client_t *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(fc_client_t *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    if (code == FC_EIO || code == FC_EPROTO)
        c->dead = code;
    return code;
}

static int fail_closed(fc_client_t *c)
{
    return fail(c, FC_ECLOSED, "server closed the connection%s%s",
                c->closed_why[0] ? ": " : "", c->closed_why);
}

static int fail_timeout(fc_client_t *c, const char *waiting_for)
{
    return fail(c, FC_ETIMEDOUT, "timed out after %d ms waiting for %s",
                c->timeout_ms, waiting_for);
}

/* --- socket I/O -------------------------------------------------------- */

static bool may_read(fc_client_t *c)
{
    return !c->eof && c->unp.used - c->unp.off < FC_CLIENT_MAX_RESPONSE;
}

/* Reads what is available into the unpacker. Returns 1 if it read bytes
 * or met the end (EOF and resets set c->eof), 0 if nothing was there yet,
 * or FC_EIO. */
static int read_some(fc_client_t *c)
{
    if (!msgpack_unpacker_reserve_buffer(&c->unp, READ_CHUNK)) {
        fputs("feedcache: out of memory\n", stderr);
        abort();
    }
    for (;;) {
        ssize_t n = recv(c->fd, msgpack_unpacker_buffer(&c->unp),
                         msgpack_unpacker_buffer_capacity(&c->unp), 0);
        if (n > 0) {
            msgpack_unpacker_buffer_consumed(&c->unp, (size_t)n);
            return 1;
        }
        if (n == 0) {
            c->eof = true;
            return 1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        if (errno == ECONNRESET || errno == EPIPE) {
            c->eof = true;
            snprintf(c->closed_why, sizeof c->closed_why, "%s", strerror(errno));
            return 1;
        }
        return fail(c, FC_EIO, "recv: %s", strerror(errno));
    }
}

/* Waits for events on the socket. Returns revents, 0 on timeout, or FC_EIO. */
static int wait_fd(fc_client_t *c, short events, int64_t deadline)
{
    struct pollfd pfd = { .fd = c->fd, .events = events };
    for (;;) {
        int n = poll(&pfd, 1, fc__remaining_ms(deadline));
        if (n > 0)
            return pfd.revents;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return fail(c, FC_EIO, "poll: %s", strerror(errno));
    }
}

static int flush_until(fc_client_t *c, int64_t deadline)
{
    while (c->out_off < c->out.size) {
        if (c->wclosed)
            return fail_closed(c);
        ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.size - c->out_off,
                         MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
            c->wclosed = true;
            if (!c->closed_why[0])
                snprintf(c->closed_why, sizeof c->closed_why, "%s while sending",
                         strerror(errno));
            return fail_closed(c);
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return fail(c, FC_EIO, "send: %s", strerror(errno));
        short events = POLLOUT | (may_read(c) ? POLLIN : 0);
        int rev = wait_fd(c, events, deadline);
        if (rev < 0)
            return rev;
        if (rev == 0)
            return fail_timeout(c, "the socket to accept the request");
        if (rev & POLLIN) {
            int rc = read_some(c);
            if (rc < 0)
                return rc;
        }
    }
    msgpack_sbuffer_clear(&c->out);
    c->out_off = 0;
    return FC_OK;
}

/* --- responses --------------------------------------------------------- */

static void copy_str(char *dst, size_t cap, const msgpack_object *o)
{
    const char *s;
    size_t n;
    if (fc_obj_str(o, &s, &n) != 0) {
        dst[0] = '\0';
        return;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Fills r from a decoded `[1, msgid, error, result]`. Returns 0, 1 for a
 * server notification (ignored), -1 when the message is not a response. */
static int parse_response(const msgpack_object *o, fc_response_t *r)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 1)
        return -1;
    const msgpack_object *a = o->via.array.ptr;
    if (a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -1;
    if (a[0].via.u64 == 2 && o->via.array.size == 3)
        return 1;
    if (a[0].via.u64 != 1 || o->via.array.size != 4 ||
        a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[1].via.u64 > UINT32_MAX)
        return -1;
    r->msgid = (uint32_t)a[1].via.u64;
    r->error = a[2];
    r->result = a[3];
    r->ok = a[2].type == MSGPACK_OBJECT_NIL;
    r->code[0] = r->message[0] = '\0';
    r->retry_after_ms = -1;
    if (r->ok)
        return 0;
    if (a[2].type == MSGPACK_OBJECT_MAP) {
        copy_str(r->code, sizeof r->code, fc_obj_get(&a[2], "code"));
        copy_str(r->message, sizeof r->message, fc_obj_get(&a[2], "message"));
        int64_t ms;
        if (fc_obj_int(fc_obj_get(&a[2], "retry_after_ms"), &ms) == 0)
            r->retry_after_ms = ms;
    } else if (a[2].type == MSGPACK_OBJECT_STR) {
        /* Other msgpack-RPC servers send a bare string. */
        copy_str(r->message, sizeof r->message, &a[2]);
    } else {
        snprintf(r->message, sizeof r->message, "error of msgpack type %d", (int)a[2].type);
    }
    return 0;
}

/* Reads until one response is complete. */
static int recv_wire(fc_client_t *c, fc_response_t *r, int64_t deadline)
{
    int rc = flush_until(c, deadline);
    if (rc < 0 && rc != FC_ECLOSED)
        return rc;
    /* A closed write side still lets us deliver responses already read. */
    for (;;) {
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        msgpack_unpack_return ret = msgpack_unpacker_next(&c->unp, &u);
        if (ret == MSGPACK_UNPACK_SUCCESS) {
            int kind = parse_response(&u.data, r);
            if (kind == 0) {
                r->zone = msgpack_unpacked_release_zone(&u);
                msgpack_unpacked_destroy(&u);
                return FC_OK;
            }
            msgpack_unpacked_destroy(&u);
            if (kind < 0)
                return fail(c, FC_EPROTO, "server sent something that is not a response");
            continue;
        }
        msgpack_unpacked_destroy(&u);
        if (ret == MSGPACK_UNPACK_PARSE_ERROR)
            return fail(c, FC_EPROTO, "server sent bytes that are not msgpack");
        if (ret == MSGPACK_UNPACK_NOMEM_ERROR)
            return fail(c, FC_EPROTO, "response nests too deeply or declares too many elements");
        if (msgpack_unpacker_message_size(&c->unp) > FC_CLIENT_MAX_RESPONSE)
            return fail(c, FC_EPROTO, "response larger than %zu MiB",
                        FC_CLIENT_MAX_RESPONSE >> 20);
        if (c->eof)
            return fail_closed(c);
        if (fc__remaining_ms(deadline) == 0) {
            /* No time left to wait (a timeout of 0: take what is there):
             * read at once, the socket being non-blocking, rather than
             * poll() first, which doubled the system calls of a caller
             * that polls many connections itself (feedbench). */
            rc = read_some(c);
            if (rc < 0)
                return rc;
            if (rc == 0)
                return fail_timeout(c, "a response");
            continue;
        }
        int rev = wait_fd(c, POLLIN, deadline);
        if (rev < 0)
            return rev;
        if (rev == 0)
            return fail_timeout(c, "a response");
        rc = read_some(c);
        if (rc < 0)
            return rc;
    }
}

void fc_response_free(fc_response_t *r)
{
    if (r->zone)
        msgpack_zone_free(r->zone);
    memset(r, 0, sizeof *r);
    r->error.type = MSGPACK_OBJECT_NIL;
    r->result.type = MSGPACK_OBJECT_NIL;
}

fc_client_t *fc_client_connect(const char *addr, int timeout_ms, char *err, size_t errlen)
{
    int fd = fc__connect(addr, timeout_ms, err, errlen);
    if (fd < 0)
        return NULL;
    fc_client_t *c = fc_xcalloc(1, sizeof *c);
    c->fd = fd;
    c->timeout_ms = timeout_ms;
    c->next_msgid = 1;
    c->addr = fc_xstrdup(addr);
    msgpack_sbuffer_init(&c->out);
    msgpack_packer_init(&c->pk, &c->out, fc__sbuffer_write);
    if (!msgpack_unpacker_init(&c->unp, READ_CHUNK)) {
        fputs("feedcache: out of memory\n", stderr);
        abort();
    }
    return c;
}

void fc_client_close(fc_client_t *c)
{
    if (!c)
        return;
    while (c->stash_head) {
        stash_t *s = c->stash_head;
        c->stash_head = s->next;
        fc_response_free(&s->r);
        free(s);
    }
    close(c->fd);
    msgpack_unpacker_destroy(&c->unp);
    msgpack_sbuffer_destroy(&c->out);
    free(c->addr);
    free(c);
}

void fc_client_set_timeout(fc_client_t *c, int timeout_ms)
{
    c->timeout_ms = timeout_ms;
}

const char *fc_client_error(const fc_client_t *c)
{
    return c->err;
}

const char *fc_client_addr(const fc_client_t *c)
{
    return c->addr;
}

int fc_client_fd(const fc_client_t *c)
{
    return c->dead ? -1 : c->fd;
}

/* --- requests ---------------------------------------------------------- */

static void pack_params(fc_client_t *c, const fc_params_t *p)
{
    if (!p || p->n == 0) {
        msgpack_pack_array(&c->pk, 0);
        return;
    }
    msgpack_pack_array(&c->pk, 1);
    msgpack_pack_map(&c->pk, p->n);
    fc__sbuffer_write(&c->out, p->buf.data, p->buf.size);
}

/* Writes what is queued unless corked. */
static int maybe_flush(fc_client_t *c)
{
    return c->corked ? FC_OK : flush_until(c, fc__deadline_after(c->timeout_ms));
}

static int check_usable(fc_client_t *c, const char *method)
{
    if (c->dead)
        return c->dead;
    if (c->wclosed)
        return fail_closed(c);
    if (method && !*method)
        return fail(c, FC_EARG, "empty method name");
    return FC_OK;
}

/* Packs a request into the output queue; returns its msgid. */
static uint32_t queue_request(fc_client_t *c, const char *method, const fc_params_t *params)
{
    uint32_t id = c->next_msgid++;
    msgpack_pack_array(&c->pk, 4);
    msgpack_pack_uint8(&c->pk, 0);
    msgpack_pack_uint32(&c->pk, id);
    msgpack_pack_str_with_body(&c->pk, method, strlen(method));
    pack_params(c, params);
    return id;
}

int fc_client_send(fc_client_t *c, const char *method, const fc_params_t *params,
                   uint32_t *msgid)
{
    int rc = check_usable(c, method);
    if (rc < 0)
        return rc;
    uint32_t id = queue_request(c, method, params);
    if (msgid)
        *msgid = id;
    return maybe_flush(c);
}

int fc_client_notify(fc_client_t *c, const char *method, const fc_params_t *params)
{
    int rc = check_usable(c, method);
    if (rc < 0)
        return rc;
    msgpack_pack_array(&c->pk, 3);
    msgpack_pack_uint8(&c->pk, 2);
    msgpack_pack_str_with_body(&c->pk, method, strlen(method));
    pack_params(c, params);
    return maybe_flush(c);
}

int fc_client_send_raw(fc_client_t *c, const void *bytes, size_t len)
{
    int rc = check_usable(c, NULL);
    if (rc < 0)
        return rc;
    fc__sbuffer_write(&c->out, bytes, len);
    return maybe_flush(c);
}

void fc_client_set_cork(fc_client_t *c, bool on)
{
    c->corked = on;
}

int fc_client_flush(fc_client_t *c)
{
    int rc = check_usable(c, NULL);
    return rc < 0 ? rc : flush_until(c, fc__deadline_after(c->timeout_ms));
}

int fc_client_recv(fc_client_t *c, fc_response_t *resp)
{
    memset(resp, 0, sizeof *resp);
    if (c->stash_head) {
        stash_t *s = c->stash_head;
        c->stash_head = s->next;
        if (!c->stash_head)
            c->stash_tail = NULL;
        *resp = s->r;
        free(s);
        return FC_OK;
    }
    if (c->dead)
        return c->dead;
    return recv_wire(c, resp, fc__deadline_after(c->timeout_ms));
}

int fc_client_auth(fc_client_t *c, const char *token, char *role, size_t rolelen)
{
    fc_params_t p;
    fc_params_init(&p);
    fc_params_str(&p, "token", token);
    fc_response_t r;
    int rc = fc_client_call(c, "auth", &p, &r);
    /* The packed params hold the token: wipe them. */
    memset(p.buf.data, 0, p.buf.size);
    fc_params_free(&p);
    if (rc != FC_OK)
        return rc;
    if (!r.ok) {
        rc = fail(c, FC_EAUTH, "auth: %s: %s", r.code[0] ? r.code : "error", r.message);
    } else {
        const char *s;
        size_t n;
        if (fc_obj_str(fc_obj_get(&r.result, "role"), &s, &n) != 0) {
            rc = fail(c, FC_EPROTO, "auth: the answer has no role");
        } else if (role && rolelen) {
            snprintf(role, rolelen, "%.*s", (int)n, s);
        }
    }
    fc_response_free(&r);
    return rc;
}

int fc_client_auth_file(fc_client_t *c, const char *path, char *role, size_t rolelen)
{
    char token[1024], why[512];
    if (fc_token_read(path, token, sizeof token, why, sizeof why) != 0)
        return fail(c, FC_EAUTH, "%s", why);
    int rc = fc_client_auth(c, token, role, rolelen);
    memset(token, 0, sizeof token);
    return rc;
}

int fc_client_call(fc_client_t *c, const char *method, const fc_params_t *params,
                   fc_response_t *resp)
{
    memset(resp, 0, sizeof *resp);
    int rc = check_usable(c, method);
    if (rc < 0)
        return rc;
    /* One deadline for the whole call; recv_wire writes the request. */
    int64_t deadline = fc__deadline_after(c->timeout_ms);
    uint32_t id = queue_request(c, method, params);
    for (;;) {
        rc = recv_wire(c, resp, deadline);
        if (rc < 0)
            return rc;
        if (resp->msgid == id)
            return FC_OK;
        stash_t *s = fc_xmalloc(sizeof *s);
        s->r = *resp;
        s->next = NULL;
        if (c->stash_tail)
            c->stash_tail->next = s;
        else
            c->stash_head = s;
        c->stash_tail = s;
        memset(resp, 0, sizeof *resp);
    }
}
