/* Client token files (fc_token_read in include/feedcache/client.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "feedcache/client.h"

static int is_blank(int ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

int fc_token_read(const char *path, char *out, size_t cap, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "token file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[2048];
    int rc = -1, lineno = 0;
    snprintf(err, errlen, "token file %s: no token in it", path);
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *fields[3] = { NULL, NULL, NULL };
        int n = 0;
        for (char *p = line; *p && n < 3;) {
            while (*p && is_blank((unsigned char)*p))
                p++;
            if (!*p)
                break;
            fields[n++] = p;
            while (*p && !is_blank((unsigned char)*p))
                p++;
            if (*p)
                *p++ = '\0';
        }
        if (n == 0 || fields[0][0] == '#')
            continue;
        const char *tok = fields[0];
        if (n == 2 && (!strcmp(fields[0], "read") || !strcmp(fields[0], "write") ||
                       !strcmp(fields[0], "admin")))
            tok = fields[1];
        else if (n != 1) {
            snprintf(err, errlen, "token file %s:%d: expected TOKEN or 'ROLE TOKEN'", path,
                     lineno);
            break;
        }
        if (strlen(tok) >= cap) {
            snprintf(err, errlen, "token file %s:%d: token too long", path, lineno);
            break;
        }
        memcpy(out, tok, strlen(tok) + 1);
        rc = 0;
        break;
    }
    if (rc != 0 && ferror(f))
        snprintf(err, errlen, "token file %s: %s", path, strerror(errno));
    memset(line, 0, sizeof line);
    fclose(f);
    return rc;
}
