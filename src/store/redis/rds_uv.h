/* hiredis <-> libuv glue: drives one redisAsyncContext from one uv_poll_t.
 *
 * The project's own replacement for hiredis/adapters/libuv.h, whose 0.14
 * version ignores poll errors: libuv reports a socket error (connection
 * refused, peer reset) as status UV_EBADF with no events and stops the handle;
 * the stock adapter then returns without telling hiredis, so the connect
 * callback never fires and queued command callbacks are never run. Here the
 * error path hands hiredis the events it was waiting for, so it performs the
 * read or write, sees the error and runs its callbacks (as hiredis 1.0 does).
 *
 * Writes: the stock adapter watches the socket for "writable" whenever
 * hiredis has output, which costs two epoll_ctl calls and one more loop
 * iteration per write. Here a connected context's output is written at the
 * end of the loop iteration that produced it (a uv_check handle), so the
 * commands of every callback of that iteration leave in one write, at once;
 * "writable" is watched only for the connect and for output the kernel did
 * not take. */
#ifndef FC_STORE_REDIS_RDS_UV_H
#define FC_STORE_REDIS_RDS_UV_H

#include <uv.h>

struct redisAsyncContext;

/* Called once when hiredis frees the context (from its cleanup hook). The
 * context's disconnect callback, if any, still runs right after this. */
typedef void rds_uv_cleanup_fn(void *data);

/* Attaches ac to loop. Call before redisAsyncSetConnectCallback. Returns 0,
 * or a negative libuv error (ac is then untouched; free it yourself).
 * on_cleanup may be NULL. */
int rds_uv_attach(struct redisAsyncContext *ac, uv_loop_t *loop,
                  rds_uv_cleanup_fn *on_cleanup, void *data);

#endif
