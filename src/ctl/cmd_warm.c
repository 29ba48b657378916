/* feedcachectl warm: start a warm job and follow it to its end, for cron and
 * for people. On a terminal a one-line progress bar (done/total, percent,
 * rate, ETA); otherwise a plain line every few seconds, so a cron mail or
 * journal shows the progress. The exit status says how the job ended. */
#include "ctl/ctl.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 500
#define PLAIN_EVERY_S 3.0        /* a plain progress line at most this often */
#define RECONNECT_FOR_S 15.0     /* how long a lost service is waited for */
#define STALE_AFTER_S 180.0      /* no report for this long: the job's process died */
#define MAX_IDS 100000           /* per call: keeps the request well under max_frame */
#define BAR_WIDTH 30

typedef struct {
    const ctl_opts_t *opts;
    fc_client_t *c;
    const char *job;
    bool tty;
    double t0;                   /* monotonic s when following began */
    int64_t done0;               /* done at t0 (rate counts from there) */
    bool have_first;
    double last_plain;
    char last_state[16];
    int64_t last_updated;
    double updated_seen;
} follow_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void format_eta(double secs, char *out, size_t cap)
{
    if (!isfinite(secs) || secs < 0 || secs > 360000) {
        snprintf(out, cap, "?");
        return;
    }
    long s = (long)(secs + 0.5);
    if (s >= 3600)
        snprintf(out, cap, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(out, cap, "%ld:%02ld", s / 60, s % 60);
}

static void wall_clock(char *out, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, cap, "%H:%M:%S", &tm);
}

static void show_progress(follow_t *f, const char *state, int64_t done, int64_t total)
{
    double t = now_s();
    if (!f->have_first) {
        f->have_first = true;
        f->t0 = t;
        f->done0 = done;
    }
    double rate = t - f->t0 > 0.2 ? (double)(done - f->done0) / (t - f->t0) : NAN;
    double pct = total > 0 ? 100.0 * (double)done / (double)total : 100.0;
    char eta[32];
    format_eta(rate > 0 ? (double)(total - done) / rate : NAN, eta, sizeof eta);
    bool paused = strcmp(state, "paused") == 0;
    if (f->tty) {
        char bar[BAR_WIDTH + 1];
        int filled = total > 0 ? (int)((double)BAR_WIDTH * (double)done / (double)total) : BAR_WIDTH;
        for (int i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < filled ? '#' : '-';
        bar[BAR_WIDTH] = '\0';
        printf("\r[%s] %" PRId64 "/%" PRId64 " %5.1f%%", bar, done, total, pct);
        if (paused)
            printf("  paused (outside warm_window)");
        else if (isfinite(rate))
            printf("  %.0f users/s  ETA %s", rate, eta);
        printf("\033[K");
        fflush(stdout);
        return;
    }
    bool changed = strcmp(state, f->last_state) != 0;
    bool ended = strcmp(state, "finished") == 0 || strcmp(state, "failed") == 0;
    if (ended || (!changed && t - f->last_plain < PLAIN_EVERY_S))
        return;                 /* the end has its own line */
    f->last_plain = t;
    char clock[16];
    wall_clock(clock, sizeof clock);
    printf("%s warm job %s: %s %" PRId64 "/%" PRId64 " (%.1f%%)", clock, f->job, state, done,
           total, pct);
    if (paused)
        printf(", outside warm_window");
    else if (isfinite(rate))
        printf(", %.1f users/s, ETA %s", rate, eta);
    putchar('\n');
    fflush(stdout);
}

/* Ends the progress line on a terminal before anything else is printed. */
static void end_line(const follow_t *f)
{
    if (f->tty && f->have_first) {
        putchar('\n');
        fflush(stdout);
    }
}

/* One warm.status call, reconnecting for a while when the service is gone or
 * unavailable (a restart, Redis failing over). Returns CTL_OK with resp, or
 * CTL_FAIL after printing why. */
static int poll_status(follow_t *f, fc_response_t *resp)
{
    double give_up = now_s() + RECONNECT_FOR_S;
    char why[512] = "";
    fc_params_t p;
    fc_params_init(&p);
    fc_params_str(&p, "job", f->job);
    int rc = CTL_FAIL;
    for (;;) {
        if (!f->c) {
            char err[400];
            f->c = ctl_connect_quiet(f->opts, err, sizeof err);
            if (!f->c)
                snprintf(why, sizeof why, "%s", err);
        }
        if (f->c) {
            int st = fc_client_call(f->c, "warm.status", &p, resp);
            if (st != FC_OK) {
                snprintf(why, sizeof why, "%s", fc_client_error(f->c));
                fc_client_close(f->c);
                f->c = NULL;
            } else if (resp->ok) {
                rc = CTL_OK;
                break;
            } else if (strcmp(resp->code, "UNAVAILABLE") == 0) {
                snprintf(why, sizeof why, "%s: %s", resp->code, resp->message);
                fc_response_free(resp);
            } else {
                end_line(f);
                if (strcmp(resp->code, "NOT_FOUND") == 0)
                    fprintf(stderr, "feedcachectl: warm job %s is gone: %s\n", f->job,
                            resp->message);
                else
                    fprintf(stderr, "feedcachectl: %s: warm.status: %s: %s\n", f->opts->addr,
                            resp->code, resp->message);
                fc_response_free(resp);
                break;
            }
        }
        if (now_s() >= give_up) {
            end_line(f);
            fprintf(stderr,
                    "feedcachectl: %s: lost feedcached while following warm job %s: %s\n"
                    "feedcachectl: the job may still be running: "
                    "feedcachectl warm --job %s follows it again\n",
                    f->opts->addr, f->job, why, f->job);
            break;
        }
        sleep_ms(1000);
    }
    fc_params_free(&p);
    return rc;
}

static int follow(const ctl_opts_t *opts, fc_client_t *c, const char *job)
{
    follow_t f = { .opts = opts, .c = c, .job = job, .tty = isatty(STDOUT_FILENO) == 1 };
    double start = now_s();
    for (;;) {
        fc_response_t r;
        if (poll_status(&f, &r) != CTL_OK) {
            if (f.c)
                fc_client_close(f.c);
            return CTL_FAIL;
        }
        int64_t done = 0, total = 0, started = 0, updated = 0;
        const char *state = "";
        size_t state_len = 0;
        const msgpack_object *res = &r.result;
        if (fc_obj_int(fc_obj_get(res, "done"), &done) != 0 ||
            fc_obj_int(fc_obj_get(res, "total"), &total) != 0 ||
            fc_obj_str(fc_obj_get(res, "state"), &state, &state_len) != 0 || state_len >= 16) {
            end_line(&f);
            fprintf(stderr, "feedcachectl: %s: warm.status: unexpected answer\n", opts->addr);
            fc_response_free(&r);
            fc_client_close(f.c);
            return CTL_FAIL;
        }
        char st[16];
        memcpy(st, state, state_len);
        st[state_len] = '\0';
        fc_obj_int(fc_obj_get(res, "started_ms"), &started);
        fc_obj_int(fc_obj_get(res, "updated_ms"), &updated);
        char *error = fc_obj_strdup(fc_obj_get(res, "error"));
        fc_response_free(&r);

        show_progress(&f, st, done, total);
        snprintf(f.last_state, sizeof f.last_state, "%s", st);
        int rc = -1;
        if (strcmp(st, "finished") == 0) {
            end_line(&f);
            /* The service's own start and end, when it gives them: exact,
             * unlike our polling. */
            double secs = started > 0 && updated >= started ? (double)(updated - started) / 1000.0
                                                            : now_s() - start;
            printf("warm job %s finished: %" PRId64 " users in %.*f s (%.1f users/s)\n", job,
                   total, secs < 10 ? 2 : 1, secs, secs > 0 ? (double)total / secs : 0.0);
            rc = CTL_OK;
        } else if (strcmp(st, "failed") == 0) {
            end_line(&f);
            fprintf(stderr, "feedcachectl: warm job %s failed after %" PRId64 " of %" PRId64
                    " users: %s\n", job, done, total, error && *error ? error : "no reason given");
            rc = CTL_FAIL;
        } else {
            /* A job whose process died stops reporting; its hash lingers for
             * an hour. Its own clock cannot be trusted here: watch for change. */
            double t = now_s();
            if (updated != f.last_updated || f.updated_seen == 0) {
                f.last_updated = updated;
                f.updated_seen = t;
            } else if (t - f.updated_seen > STALE_AFTER_S) {
                end_line(&f);
                fprintf(stderr, "feedcachectl: warm job %s: no progress report for %.0f s; "
                        "the feedcached instance running it may have died\n", job,
                        t - f.updated_seen);
                rc = CTL_FAIL;
            }
        }
        free(error);
        if (rc >= 0) {
            fc_client_close(f.c);
            return rc;
        }
        sleep_ms(POLL_MS);
    }
}

static int read_file(const ctl_command_t *cmd, const char *path, buf_t *out)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!fp) {
        fprintf(stderr, "feedcachectl: cannot open %s: %s\n", path, strerror(errno));
        return CTL_USAGE;
    }
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        buf_append(out, chunk, n);
    int bad = ferror(fp);
    if (fp != stdin)
        fclose(fp);
    if (bad) {
        fprintf(stderr, "feedcachectl: cannot read %s\n", path);
        return CTL_USAGE;
    }
    buf_puts(out, "");      /* NUL-terminated even when empty */
    return CTL_OK;
}

typedef struct {
    const char *active, *users, *users_file, *rate, *job;
    bool no_follow;
} warm_args_t;

static int parse_args(ctl_opts_t *opts, int argc, char **argv, warm_args_t *a)
{
    const ctl_command_t *cmd = &ctl_cmd_warm;
    for (int i = 1; i < argc; i++) {
        int st = ctl_common_arg(opts, cmd, argc, argv, &i);
        if (st == CTL_ARG_TAKEN)
            continue;
        if (st != CTL_ARG_UNKNOWN)
            return st;
        static const char *const names[] = { "--active-within", "--users", "--users-file",
                                             "--rate", "--job" };
        const char **slots[] = { &a->active, &a->users, &a->users_file, &a->rate, &a->job };
        bool taken = false;
        for (size_t k = 0; k < 5 && !taken; k++) {
            st = ctl_opt_value(cmd, argc, argv, &i, names[k], slots[k]);
            if (st == CTL_USAGE)
                return st;
            taken = st == 1;
        }
        if (taken)
            continue;
        if (strcmp(argv[i], "--no-follow") == 0) {
            a->no_follow = true;
            continue;
        }
        return ctl_bad_arg(cmd, argv[i]);
    }
    int modes = (a->active != NULL) + (a->users || a->users_file) + (a->job != NULL);
    if (modes != 1)
        return ctl_usage_error(cmd->name, "give exactly one of --active-within, "
                               "--users/--users-file, or --job");
    if (a->job && (a->rate || a->no_follow))
        return ctl_usage_error(cmd->name, "--job follows a running job: "
                               "--rate and --no-follow do not apply");
    return -1;
}

static int warm_run(ctl_opts_t *opts, int argc, char **argv)
{
    const ctl_command_t *cmd = &ctl_cmd_warm;
    warm_args_t a = { 0 };
    int st = parse_args(opts, argc, argv, &a);
    if (st >= 0)
        return st;

    fc_params_t p;
    fc_params_init(&p);
    int rc = CTL_OK;
    int64_t *ids = NULL;
    size_t nids = 0, cap = 0;
    if (a.active) {
        int64_t secs;
        if (ctl_parse_duration(a.active, &secs) != 0) {
            rc = ctl_usage_error(cmd->name, "bad --active-within '%s': expected a duration "
                                 "such as 7d, 12h, 30m or 3600s", a.active);
            goto out;
        }
        fc_params_int(&p, "active_within_s", secs);
    } else if (!a.job) {
        char err[128];
        if (a.users && ctl_parse_ids(a.users, &ids, &nids, &cap, err, sizeof err) != 0) {
            rc = ctl_usage_error(cmd->name, "bad --users: %s", err);
            goto out;
        }
        if (a.users_file) {
            buf_t text;
            buf_init(&text);
            rc = read_file(cmd, a.users_file, &text);
            if (rc == CTL_OK && ctl_parse_ids(text.data, &ids, &nids, &cap, err, sizeof err) != 0)
                rc = ctl_usage_error(cmd->name, "bad --users-file %s: %s", a.users_file, err);
            buf_free(&text);
            if (rc != CTL_OK)
                goto out;
        }
        if (nids > MAX_IDS) {
            rc = ctl_usage_error(cmd->name, "%zu ids: at most %d per warm job (split the list)",
                                 nids, MAX_IDS);
            goto out;
        }
        fc_params_int_array(&p, "user_ids", ids, nids);
    }
    if (a.rate) {
        char *end;
        errno = 0;
        double rate = strtod(a.rate, &end);
        if (errno || end == a.rate || *end || !isfinite(rate) || !(rate > 0)) {
            rc = ctl_usage_error(cmd->name, "bad --rate '%s': expected users per second > 0",
                                 a.rate);
            goto out;
        }
        fc_params_double(&p, "rate", rate);
    }

    fc_client_t *c = ctl_connect(opts);
    if (!c) {
        rc = CTL_FAIL;
        goto out;
    }
    if (a.job) {
        rc = follow(opts, c, a.job);
        goto out;
    }
    fc_response_t r;
    rc = ctl_call(opts, c, "warm", &p, &r);
    if (rc != CTL_OK) {
        fc_client_close(c);
        goto out;
    }
    char *job = fc_obj_strdup(fc_obj_get(&r.result, "job"));
    int64_t users = -1;
    fc_obj_int(fc_obj_get(&r.result, "users"), &users);
    fc_response_free(&r);
    if (!job || users < 0) {
        fprintf(stderr, "feedcachectl: %s: warm: unexpected answer\n", opts->addr);
        free(job);
        fc_client_close(c);
        rc = CTL_FAIL;
        goto out;
    }
    printf("warm job %s started: %" PRId64 " users\n", job, users);
    fflush(stdout);
    if (a.no_follow)
        fc_client_close(c);
    else
        rc = follow(opts, c, job);
    free(job);
out:
    free(ids);
    fc_params_free(&p);
    return rc;
}

const ctl_command_t ctl_cmd_warm = {
    .name = "warm",
    .summary = "warm home feeds from PostgreSQL and follow the job to its end",
    .usage =
        "Usage: feedcachectl [--addr ADDR] [--timeout MS] warm\n"
        "         (--active-within DURATION | --users IDS | --users-file FILE | --job JOB)\n"
        "         [--rate N] [--no-follow]\n"
        "\n"
        "Starts a warm job: feedcached rebuilds the home feeds of the given users\n"
        "(and caches their newest posts) in the background, paced, yielding to\n"
        "live traffic, and only inside its warm_window setting (a job waits,\n"
        "paused, outside it). Then follows the job until it ends: on a terminal\n"
        "with a progress bar (done/total, percent, users/s, ETA), otherwise with\n"
        "a plain line every few seconds (for cron and logs).\n"
        "\n"
        "Options:\n"
        "  --active-within DURATION  every user whose last_active_at is within\n"
        "                            DURATION of now: 7d, 12h, 30m, 3600s, 1h30m\n"
        "  --users IDS               these user ids, comma-separated: 1,2,3\n"
        "  --users-file FILE         user ids from FILE ('-' for stdin), separated\n"
        "                            by commas, blanks or newlines; '#' comments\n"
        "                            (--users and --users-file may be combined)\n"
        "  --job JOB                 follow a job already started (e.g. after\n"
        "                            --no-follow, or a lost connection)\n"
        "  --rate N                  users per second (default: the service's\n"
        "                            warm_rate setting, 200)\n"
        "  --no-follow               print the job id and exit at once\n"
        "\n"
        "Exit status:\n"
        "  0  the job finished (or, with --no-follow, was started)\n"
        "  1  the job failed (the reason is printed), it disappeared, or feedcached\n"
        "     could not be reached or answered an error\n"
        "  2  usage error\n",
    .run = warm_run,
};
