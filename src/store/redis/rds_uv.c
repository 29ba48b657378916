/* hiredis <-> libuv glue; see rds_uv.h for why it exists. */
#include "store/redis/rds_uv.h"

#include <stdlib.h>

#include <hiredis/async.h>

#include "util/buf.h"

typedef struct {
    uv_poll_t poll;
    redisAsyncContext *ac;        /* NULL once hiredis has cleaned up */
    int events;                   /* UV_READABLE | UV_WRITABLE hiredis wants */
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

static void add_write(void *privdata)
{
    rds_uv_t *p = privdata;
    update(p, p->events | UV_WRITABLE);
}

static void del_write(void *privdata)
{
    rds_uv_t *p = privdata;
    update(p, p->events & ~UV_WRITABLE);
}

static void on_close(uv_handle_t *handle)
{
    free(handle->data);
}

/* hiredis is freeing the context (the socket closes right after): stop
 * watching the fd now, free our state once libuv has let go of the handle. */
static void cleanup(void *privdata)
{
    rds_uv_t *p = privdata;
    if (!p->ac)
        return;
    p->ac = NULL;
    p->events = 0;
    uv_close((uv_handle_t *)&p->poll, on_close);
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
    p->poll.data = p;
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
