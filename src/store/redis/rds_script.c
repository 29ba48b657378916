#include "store/redis/rds_script.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"

typedef struct {
    const char *text;
    size_t len;
    char sha[SHA1_HEX_LEN + 1];
} script_t;

static script_t scripts[RDS_SCRIPT_MAX];
static int nscripts;
static bool full_logged;

int rds_script_register(const char *text)
{
    for (int i = 0; i < nscripts; i++)
        if (scripts[i].text == text)
            return i;
    if (nscripts == RDS_SCRIPT_MAX) {
        if (!full_logged)
            log_warn("rds", "more than %d Lua scripts: the others are sent with EVAL, text "
                     "and all, on every call", RDS_SCRIPT_MAX);
        full_logged = true;
        return -1;
    }
    script_t *s = &scripts[nscripts];
    s->text = text;
    s->len = strlen(text);
    sha1_hex(text, s->len, s->sha);
    return nscripts++;
}

const char *rds_script_sha(int index)
{
    return index >= 0 && index < nscripts ? scripts[index].sha : "";
}

void rds_args_eval(rds_args_t *a, const char *text, int nkeys)
{
    int i = rds_script_register(text);
    rds_args_reset(a);
    if (i >= 0) {
        rds_args_str(a, "EVALSHA");
        rds_args_add(a, scripts[i].sha, SHA1_HEX_LEN);
    } else {
        rds_args_str(a, "EVAL");
        rds_args_str(a, text);
    }
    rds_args_int(a, nkeys);
}

/* What follows the "*<argc>\r\n" of an EVALSHA written by rds_args_eval. */
static const char EVALSHA_HEAD[] = "$7\r\nEVALSHA\r\n$40\r\n";

int rds_script_of_resp(const char *resp, size_t len, size_t *rest)
{
    /* "*<argc>\r\n" first. */
    if (len < 4 || resp[0] != '*')
        return -1;
    size_t head = 1;
    while (head < len && head < 6 && resp[head] >= '0' && resp[head] <= '9')
        head++;
    if (head == 1 || head + 1 >= len || resp[head] != '\r' || resp[head + 1] != '\n')
        return -1;
    head += 2;
    size_t need = head + sizeof EVALSHA_HEAD - 1 + SHA1_HEX_LEN + 2;
    if (len < need || memcmp(resp + head, EVALSHA_HEAD, sizeof EVALSHA_HEAD - 1) != 0 ||
        memcmp(resp + need - 2, "\r\n", 2) != 0)
        return -1;
    const char *sha = resp + head + sizeof EVALSHA_HEAD - 1;
    for (int i = 0; i < nscripts; i++) {
        if (memcmp(scripts[i].sha, sha, SHA1_HEX_LEN) == 0) {
            *rest = need;
            return i;
        }
    }
    return -1;
}

const buf_t *rds_script_eval_resp(int index, const char *resp, size_t len, size_t rest)
{
    static buf_t out;
    const script_t *s = &scripts[index];
    buf_reset(&out);
    size_t head = (size_t)((const char *)memchr(resp, '\n', len) - resp) + 1;
    buf_reserve(&out, len - rest + head + s->len + 40);
    buf_append(&out, resp, head);
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "$4\r\nEVAL\r\n$%zu\r\n", s->len);
    buf_append(&out, tmp, (size_t)n);
    buf_append(&out, s->text, s->len);
    buf_append(&out, "\r\n", 2);
    buf_append(&out, resp + rest, len - rest);
    return &out;
}
