/* hiredis <-> libuv glue; see rds_uv.h for why it exists. */
#include "store/redis/rds_uv.h"

#include <stdbool.h>
#include <stdlib.h>

#include <hiredis/async.h>

#include "util/buf.h"

typedef struct {
    uv_poll_t poll;
    uv_check_t check;             /* writes what the iteration queued */
    uv_idle_t idle;               /* keeps the poll from blocking while it waits */
    redisAsyncContext *ac;        /* NULL once hiredis has cleaned up */
    int events;                   /* UV_READABLE | UV_WRITABLE watched on the socket */
    bool write_queued;            /* output waits for the check phase */
    bool flushing;                /* inside on_check's write */
    int handles;                  /* open handles; freed when the last one closes */
    rds_uv_cleanup_fn *on_cleanup;
    void *data;
} rds_uv_t;

static void on_poll(uv_poll_t *handle, int status, int events)
{
    rds_uv_t *p = handle->data;
    /* On an error libuv has stopped the handle and passes no events. Give
     * hiredis the events it was waiting for: the read or write fails, hiredis
     * sees the error and runs the connect or reply callbacks. */
    int ev = status < 0 ? p->events : events;

    /* Either call may free the context (p->ac becomes NULL via cleanup). */
    if (p->ac && (ev & UV_READABLE))
        redisAsyncHandleRead(p->ac);
    if (p->ac && (ev & UV_WRITABLE))
        redisAsyncHandleWrite(p->ac);

    /* Still alive after an error: hiredis did not see a fatal one, so watch
     * again rather than hang until a timeout notices. */
    if (status < 0 && p->ac && p->events)
        uv_poll_start(&p->poll, p->events, on_poll);
}

static void update(rds_uv_t *p, int events)
{
    if (!p->ac || events == p->events)
        return;
    p->events = events;
    if (events)
        uv_poll_start(&p->poll, events, on_poll);
    else
        uv_poll_stop(&p->poll);
}

static void unqueue_write(rds_uv_t *p)
{
    if (!p->write_queued)
        return;
    p->write_queued = false;
    uv_check_stop(&p->check);
    uv_idle_stop(&p->idle);
}

/* The end of the loop iteration: everything the iteration's callbacks
 * queued goes out in one write, at once. */
static void on_check(uv_check_t *handle)
{
    rds_uv_t *p = handle->data;
    unqueue_write(p);
    if (!p->ac)
        return;
    p->flushing = true;
    redisAsyncHandleWrite(p->ac);   /* may free the context; p stays until closed */
    p->flushing = false;
}

static void on_idle(uv_idle_t *handle)
{
    /* Only here so that the poll does not block while a write is queued
     * (one queued from a check callback that ran after ours). */
    (void)handle;
}

static void add_read(void *privdata)
{
    rds_uv_t *p = privdata;
    update(p, p->events | UV_READABLE);
}

static void del_read(void *privdata)
{
    rds_uv_t *p = privdata;
    update(p, p->events & ~UV_READABLE);
}

/* hiredis has output. Watching the socket for "writable" would cost two
 * epoll_ctl calls and a loop iteration per write (the socket is nearly
 * always writable): on a connected context the write is queued for the end
 * of this iteration instead, where the commands of every callback that ran
 * go out together. Only what the kernel did not take (a full socket
 * buffer), and the connect itself, wait for "writable". */
static void add_write(void *privdata)
{
    rds_uv_t *p = privdata;
    if (!p->ac || (p->events & UV_WRITABLE) || p->write_queued)
        return;
    if (p->flushing || !(p->ac->c.flags & REDIS_CONNECTED)) {
        update(p, p->events | UV_WRITABLE);
        return;
    }
    p->write_queued = true;
    uv_check_start(&p->check, on_check);
    uv_idle_start(&p->idle, on_idle);
}

static void del_write(void *privdata)
{
    rds_uv_t *p = privdata;
    unqueue_write(p);
    update(p, p->events & ~UV_WRITABLE);
}

static void on_close(uv_handle_t *handle)
{
    rds_uv_t *p = handle->data;
    if (--p->handles == 0)
        free(p);
}

/* hiredis is freeing the context (the socket closes right after): stop
 * watching the fd now, free our state once libuv has let go of the handles. */
static void cleanup(void *privdata)
{
    rds_uv_t *p = privdata;
    if (!p->ac)
        return;
    p->ac = NULL;
    p->events = 0;
    unqueue_write(p);
    uv_close((uv_handle_t *)&p->poll, on_close);
    uv_close((uv_handle_t *)&p->check, on_close);
    uv_close((uv_handle_t *)&p->idle, on_close);
    if (p->on_cleanup)
        p->on_cleanup(p->data);
}

int rds_uv_attach(redisAsyncContext *ac, uv_loop_t *loop,
                  rds_uv_cleanup_fn *on_cleanup, void *data)
{
    if (ac->ev.data)
        return UV_EBUSY;
    rds_uv_t *p = fc_xcalloc(1, sizeof *p);
    int rc = uv_poll_init_socket(loop, &p->poll, ac->c.fd);
    if (rc != 0) {
        free(p);
        return rc;
    }
    uv_check_init(loop, &p->check);
    uv_idle_init(loop, &p->idle);
    p->handles = 3;
    p->poll.data = p;
    p->check.data = p;
    p->idle.data = p;
    p->ac = ac;
    p->on_cleanup = on_cleanup;
    p->data = data;

    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    ac->ev.data = p;
    return 0;
}
