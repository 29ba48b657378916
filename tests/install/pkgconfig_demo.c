/* A caller of the installed client library, built with nothing but
 *
 *   cc pkgconfig_demo.c $(pkg-config --cflags --libs feedcache-client)
 *
 * by tests/install/test_install.sh (against a `meson install --destdir`
 * tree) and by scripts/test.sh's packages step (against the installed
 * libfeedcache-client-dev). It needs no server: it prints the library's
 * version and checks the error paths a caller meets first.
 *
 *   pkgconfig_demo [EXPECTED_VERSION]     exit 0 when all is as expected */
#include <feedcache/client.h>

#include <stdio.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what)
{
    printf("%s: %s\n", ok ? "ok" : "FAIL", what);
    failures += !ok;
}

int main(int argc, char **argv)
{
    const char *version = fc_client_version();
    printf("libfeedcache-client %s\n", version);
    if (argc > 1)
        check(strcmp(version, argv[1]) == 0, "the version is the one expected");

    char err[256] = "";
    /* Port 1 on loopback: nothing listens there. */
    fc_client_t *c = fc_client_connect("127.0.0.1:1", 1000, err, sizeof err);
    check(c == NULL && err[0] != '\0', "connecting to nothing fails with a reason");
    printf("  (%s)\n", err);
    if (c)
        fc_client_close(c);

    err[0] = '\0';
    c = fc_client_connect("not an address", 1000, err, sizeof err);
    check(c == NULL && err[0] != '\0', "a malformed address is refused with a reason");
    printf("  (%s)\n", err);
    if (c)
        fc_client_close(c);

    /* msgpack comes through the .pc file's Requires. */
    fc_params_t p;
    fc_params_init(&p);
    fc_params_int(&p, "user_id", 42);
    fc_params_str(&p, "cursor", "abc");
    check(p.n == 2 && p.buf.size > 0, "params pack through msgpack");
    fc_params_free(&p);

    char token[64];
    check(fc_token_read("/nonexistent/token", token, sizeof token, err, sizeof err) == -1,
          "a missing token file is an error");

    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
