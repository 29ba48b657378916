/* Private to the client library: the packer write callback shared by the
 * params builder and the connection's output buffer. */
#ifndef FC_CLIENT_PACK_H
#define FC_CLIENT_PACK_H

#include <stddef.h>

/* msgpack_sbuffer_write that aborts when realloc fails (feedcache treats
 * out-of-memory as fatal), so packing never fails half-way. */
int fc__sbuffer_write(void *sbuf, const char *buf, size_t len);

#endif
