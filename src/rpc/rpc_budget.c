#include "rpc/rpc_budget.h"

#include <stdint.h>

size_t rpc_budget_cost(size_t unsent, size_t calls, size_t call_cost)
{
    if (call_cost < RPC_BUDGET_CALL_MIN)
        call_cost = RPC_BUDGET_CALL_MIN;
    if (calls > (SIZE_MAX - unsent) / call_cost)
        return SIZE_MAX;
    return unsent + calls * call_cost;
}

bool rpc_budget_may_start(const rpc_budget_t *b, size_t unsent, size_t calls, size_t call_cost)
{
    /* With nothing unsent and nothing in flight, one call always may. */
    if (calls == 0 && unsent == 0)
        return true;
    return calls < RPC_BUDGET_MAX_CALLS && rpc_budget_cost(unsent, calls, call_cost) < b->soft;
}

bool rpc_budget_may_resume(const rpc_budget_t *b, size_t unsent, size_t calls, size_t call_cost)
{
    if (calls == 0 && unsent == 0)
        return true;
    return calls <= RPC_BUDGET_MAX_CALLS / 2 &&
           rpc_budget_cost(unsent, calls, call_cost) <= b->soft / 2;
}

bool rpc_budget_over_hard(const rpc_budget_t *b, size_t unsent)
{
    return b->hard > 0 && unsent > b->hard;
}

size_t rpc_budget_estimate(size_t estimate, size_t reply_bytes)
{
    if (reply_bytes >= estimate)
        estimate = reply_bytes;
    else
        estimate -= (estimate - reply_bytes) / 8;
    return estimate < RPC_BUDGET_CALL_MIN ? RPC_BUDGET_CALL_MIN : estimate;
}
