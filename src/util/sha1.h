/* SHA-1 (FIPS 180-4), one shot: what Redis names a Lua script by (EVALSHA,
 * SCRIPT LOAD), so that store/redis/rds_script.c can send a script by its
 * digest without asking Redis for it. Not for anything security related.
 *
 * Written for feedcache after Steve Reid's public-domain SHA-1 (the one
 * Redis itself vendors as src/sha1.c); public domain too. No I/O, no
 * global state; tests/unit/test_sha1.c checks it against FIPS vectors,
 * sha1sum and Redis's own SCRIPT LOAD. */
#ifndef FC_UTIL_SHA1_H
#define FC_UTIL_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_LEN 20
#define SHA1_HEX_LEN 40

/* The digest of data[0..len). */
void sha1(const void *data, size_t len, uint8_t out[SHA1_LEN]);

/* The same, as 40 lowercase hex digits and a NUL (Redis's spelling). */
void sha1_hex(const void *data, size_t len, char out[SHA1_HEX_LEN + 1]);

#endif
