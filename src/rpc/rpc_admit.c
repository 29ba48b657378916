#include "rpc/rpc_admit.h"

#define NS_PER_MS UINT64_C(1000000)
#define PERIOD_NS (100 * NS_PER_MS)
/* Weight of the last period in the pressure: about a second of memory. A
 * pressure that jumped with every period would hand whole cohorts of shed
 * callers the same long retry_after_ms; they would come back together,
 * be shed together, and leave the service idle in between. */
#define PRESSURE_WEIGHT 0.1
/* Per 100 ms period: x16 in 2 s. */
#define RETRY_STRETCH 1.15

void rpc_admit_init(rpc_admit_t *a, bool adaptive, size_t max_inflight)
{
    *a = (rpc_admit_t){ .adaptive = adaptive, .max_inflight = max_inflight, .pressure = 1,
                        .retry_ms = RPC_ADMIT_RETRY_BASE_MS };
    unsigned ceiling = max_inflight > UINT32_MAX ? UINT32_MAX : (unsigned)max_inflight;
    rpc_limit_init(&a->limit, RPC_ADMIT_INITIAL_LIMIT, RPC_ADMIT_MIN_LIMIT, ceiling);
    rng_seed(&a->rng);
}

size_t rpc_admit_limit(const rpc_admit_t *a)
{
    return a->adaptive ? rpc_limit_value(&a->limit) : a->max_inflight;
}

/* Calls in progress from which the limit counts as busy: all but the
 * reserve. */
static size_t busy_from(size_t limit)
{
    return limit - limit / RPC_ADMIT_RESERVE_DIV;
}

/* rpc_admit_conn_should_wait with `inflight` calls in progress. */
static bool should_wait(const rpc_admit_t *a, size_t inflight, size_t conn_admitted)
{
    return a->adaptive && conn_admitted > 0 && inflight >= busy_from(rpc_admit_limit(a)) &&
           2 * conn_admitted >= inflight;
}

bool rpc_admit_conn_should_wait(const rpc_admit_t *a, size_t conn_admitted)
{
    return should_wait(a, a->inflight, conn_admitted);
}

bool rpc_admit_would_shed(const rpc_admit_t *a, size_t conn_admitted)
{
    size_t limit = rpc_admit_limit(a);
    return a->inflight >= limit || (conn_admitted > 0 && a->inflight >= busy_from(limit));
}

size_t rpc_admit_room(const rpc_admit_t *a, size_t conn_admitted)
{
    size_t limit = rpc_admit_limit(a);
    size_t busy = busy_from(limit);
    if (a->inflight >= limit)
        return 0;
    if (conn_admitted == 0)   /* its first may use the reserve, the rest may not */
        return 1 + (a->inflight + 1 < busy ? busy - (a->inflight + 1) : 0);
    return a->inflight < busy ? busy - a->inflight : 0;
}

bool rpc_admit_newest_first(const rpc_admit_t *a, uint64_t now_ns)
{
    bool onset = a->hold_out_ns != 0 &&
                 now_ns - a->hold_out_ns < RPC_ADMIT_OVERLOADED_MS * NS_PER_MS;
    return onset || rpc_admit_shedding(a, now_ns);
}

size_t rpc_admit_shed_first(const rpc_admit_t *a, uint64_t now_ns, size_t conn_admitted,
                            size_t waiting)
{
    size_t room = rpc_admit_room(a, conn_admitted);
    if (waiting <= room || !rpc_admit_newest_first(a, now_ns))
        return 0;
    if (should_wait(a, a->inflight + room, conn_admitted + room))
        return 0;
    return waiting - room;
}

/* Ends the stall windows that have passed by now. */
static void roll_stalls(rpc_admit_t *a, uint64_t now_ns)
{
    uint64_t window = RPC_ADMIT_STALL_WINDOW_MS * NS_PER_MS;
    if (now_ns - a->stall_window_ns < window)
        return;
    a->stall_prev_ns = now_ns - a->stall_window_ns < 2 * window ? a->stall_cur_ns : 0;
    a->stall_cur_ns = 0;
    a->stall_window_ns = now_ns;
}

/* Calls were in progress from progress_ns to now_ns with none ending. */
static void note_stall(rpc_admit_t *a, uint64_t now_ns)
{
    roll_stalls(a, now_ns);
    uint64_t gap = now_ns > a->progress_ns ? now_ns - a->progress_ns : 0;
    if (gap > a->stall_cur_ns)
        a->stall_cur_ns = gap;
}

uint64_t rpc_admit_stall_ns(const rpc_admit_t *a, uint64_t now_ns)
{
    /* As roll_stalls would leave the windows by now, without rolling them. */
    uint64_t window = RPC_ADMIT_STALL_WINDOW_MS * NS_PER_MS;
    uint64_t age = now_ns - a->stall_window_ns;
    uint64_t stall = 0;
    if (age < window)
        stall = a->stall_cur_ns > a->stall_prev_ns ? a->stall_cur_ns : a->stall_prev_ns;
    else if (age < 2 * window)
        stall = a->stall_cur_ns;   /* the current window becomes the previous */
    if (a->inflight > 0 && now_ns > a->progress_ns && now_ns - a->progress_ns > stall)
        stall = now_ns - a->progress_ns;
    uint64_t max = RPC_ADMIT_STALL_MAX_MS * NS_PER_MS;
    return stall < max ? stall : max;
}

/* A bound on waiting (a hold's, the queue's): min_ms, or normals x the
 * normal latency if longer, plus RPC_ADMIT_STALL_FACTOR x the stall seen
 * lately. */
static uint64_t wait_bound_ns(const rpc_admit_t *a, uint64_t now_ns, uint64_t min_ms,
                              double normals)
{
    uint64_t bound = min_ms * NS_PER_MS;
    double normal = rpc_limit_normal_ns(&a->limit) * normals;
    if (normal > (double)bound)
        bound = (uint64_t)normal;
    return bound + RPC_ADMIT_STALL_FACTOR * rpc_admit_stall_ns(a, now_ns);
}

uint64_t rpc_admit_hold_max_ns(const rpc_admit_t *a, uint64_t now_ns)
{
    return wait_bound_ns(a, now_ns, RPC_ADMIT_HOLD_MIN_MS, RPC_ADMIT_HOLD_NORMALS);
}

bool rpc_admit_may_hold(const rpc_admit_t *a, uint64_t now_ns, uint64_t held_since_ns,
                        uint64_t oldest_hold_ns)
{
    if (!a->adaptive || rpc_admit_shedding(a, now_ns))
        return false;
    uint64_t max = rpc_admit_hold_max_ns(a, now_ns);
    if (held_since_ns != 0 && now_ns - held_since_ns >= max)
        return false;
    return oldest_hold_ns == 0 || now_ns - oldest_hold_ns < max;
}

double rpc_admit_normal_seconds(const rpc_admit_t *a)
{
    return rpc_limit_normal_ns(&a->limit) / 1e9;
}

/* Rolls the per-period counts over; the finished period's ratio of offered
 * to admitted moves the pressure that retry_after_ms reports. */
static void roll_period(rpc_admit_t *a, uint64_t now_ns)
{
    if (now_ns - a->period_start_ns < PERIOD_NS)
        return;
    uint64_t offered = a->period_admitted + a->period_shed;
    double ratio = offered == 0 ? 1
                   : a->period_admitted == 0 ? (double)offered
                                             : (double)offered / (double)a->period_admitted;
    a->pressure += (ratio - a->pressure) * PRESSURE_WEIGHT;
    /* Callers that honour retry_after_ms come back at (callers waiting) /
     * retry_after_ms: the wait is stretched while they still offer more than
     * RPC_ADMIT_PRESSURE_TARGET x what is admitted, shortened once they
     * offer less. So shed calls stay a fraction of the served ones whatever
     * the number of callers (16,384 callers told "100 ms" would come back
     * at 160,000 calls/s, and answering them would take the CPU the reads
     * need), while enough come back to keep every slot busy. */
    if (a->pressure > RPC_ADMIT_PRESSURE_TARGET)
        a->retry_ms *= RETRY_STRETCH;
    else
        a->retry_ms /= RETRY_STRETCH;
    if (a->retry_ms < RPC_ADMIT_RETRY_BASE_MS)
        a->retry_ms = RPC_ADMIT_RETRY_BASE_MS;
    if (a->retry_ms > RPC_ADMIT_RETRY_MAX_MS)
        a->retry_ms = RPC_ADMIT_RETRY_MAX_MS;
    /* The share of what was offered that was shed, into its moving average
     * (about a second, as the pressure's): rpc_admit_shedding. */
    double shed = offered == 0 ? 0 : (double)a->period_shed / (double)offered;
    a->shed_share += (shed - a->shed_share) * PRESSURE_WEIGHT;
    /* Idle for a second or more: nothing is known about pressure. */
    bool idle = now_ns - a->period_start_ns >= 10 * PERIOD_NS;
    if (idle) {
        a->pressure = 1;
        a->retry_ms = RPC_ADMIT_RETRY_BASE_MS;
        a->shed_share = shed;
    }
    a->period_start_ns = now_ns;
    a->prev_admitted = idle ? 0 : a->period_admitted;
    a->prev_shed = idle ? 0 : a->period_shed;
    a->period_admitted = 0;
    a->period_shed = 0;
}

static rpc_admit_result_t shed(rpc_admit_t *a, uint64_t now_ns, rpc_admit_result_t why)
{
    a->period_shed++;
    a->last_shed_ns = now_ns;
    return why;
}

rpc_admit_result_t rpc_admit_supersede(rpc_admit_t *a, uint64_t now_ns)
{
    roll_period(a, now_ns);
    return shed(a, now_ns, RPC_ADMIT_SHED_NEWER);
}

rpc_admit_result_t rpc_admit_try(rpc_admit_t *a, uint64_t now_ns, uint64_t queued_ns,
                                 size_t conn_inflight, size_t *inflight_at_start)
{
    roll_period(a, now_ns);
    size_t limit = rpc_admit_limit(a);
    size_t busy = busy_from(limit);
    if (a->inflight >= busy &&
        queued_ns > wait_bound_ns(a, now_ns, RPC_ADMIT_QUEUE_MIN_MS, RPC_ADMIT_QUEUE_NORMALS))
        return shed(a, now_ns, RPC_ADMIT_SHED_QUEUE);
    if (a->inflight >= limit)
        return shed(a, now_ns, RPC_ADMIT_SHED_LIMIT);
    if (conn_inflight > 0 && a->inflight >= busy)
        return shed(a, now_ns, RPC_ADMIT_SHED_RESERVE);
    if (a->inflight == 0)
        a->progress_ns = now_ns;   /* a stall is counted from here */
    a->inflight++;
    a->period_admitted++;
    *inflight_at_start = a->inflight;
    return RPC_ADMIT_OK;
}

bool rpc_admit_done(rpc_admit_t *a, uint64_t now_ns, uint64_t latency_ns,
                    size_t inflight_at_start, bool measured)
{
    roll_period(a, now_ns);
    if (a->inflight > 0) {
        note_stall(a, now_ns);
        a->progress_ns = now_ns;
        a->inflight--;
    }
    return measured && a->adaptive &&
           rpc_limit_sample(&a->limit, now_ns, latency_ns, inflight_at_start);
}

int64_t rpc_admit_retry_after_ms(rpc_admit_t *a, uint64_t now_ns)
{
    roll_period(a, now_ns);
    double ms = a->retry_ms;
    ms = ms * (0.5 + (double)rng_below(&a->rng, 1001) / 1000.0);
    if (ms > RPC_ADMIT_RETRY_MAX_MS)
        ms = RPC_ADMIT_RETRY_MAX_MS;
    return (int64_t)ms;
}

bool rpc_admit_overloaded(const rpc_admit_t *a, uint64_t now_ns)
{
    return a->last_shed_ns != 0 && now_ns - a->last_shed_ns < RPC_ADMIT_OVERLOADED_MS * NS_PER_MS;
}

bool rpc_admit_shedding(const rpc_admit_t *a, uint64_t now_ns)
{
    if (!rpc_admit_overloaded(a, now_ns))
        return false;
    if (a->prev_shed * RPC_ADMIT_SHEDDING_DIV >= a->prev_shed + a->prev_admitted &&
        a->prev_shed > 0)
        return true;
    if (a->shed_share * RPC_ADMIT_SHEDDING_DIV >= 1)
        return true;
    return a->period_shed >= RPC_ADMIT_SHEDDING_MIN &&
           a->period_shed * RPC_ADMIT_SHEDDING_DIV >= a->period_shed + a->period_admitted;
}

bool rpc_admit_shedding_most(const rpc_admit_t *a, uint64_t now_ns)
{
    return rpc_admit_overloaded(a, now_ns) && a->shed_share >= RPC_ADMIT_MOST_SHARE;
}

void rpc_admit_note_overload(rpc_admit_t *a, uint64_t now_ns)
{
    a->last_shed_ns = now_ns;
    a->hold_out_ns = now_ns;
}

void rpc_admit_note_hold(rpc_admit_t *a, uint64_t now_ns)
{
    a->last_hold_ns = now_ns;
}

bool rpc_admit_busy(const rpc_admit_t *a, uint64_t now_ns)
{
    return rpc_admit_overloaded(a, now_ns) ||
           (a->last_hold_ns != 0 && now_ns - a->last_hold_ns < RPC_ADMIT_OVERLOADED_MS * NS_PER_MS);
}
