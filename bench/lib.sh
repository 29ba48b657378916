# Helpers shared by bench/run.sh and bench/cluster.sh (sourced, not run).
# val reads $REPORT, the feedbench key=value report of the calling script.

# A free TCP port on 127.0.0.1 in 12000-19999 (services.sh uses 20000-29999),
# other than $1. Below Linux's ephemeral range (32768 and up): a port there
# may be taken, between this check and feedcached's bind, as the local port
# of one of the benchmark's own client connections (a run failed so:
# "cannot listen on 127.0.0.1:34670: address already in use").
free_port() {
    local p n
    for ((n = 0; n < 200; n++)); do
        p=$((12000 + RANDOM % 8000))
        [ "$p" = "${1:-0}" ] && continue
        # A variable, not `ss | grep -q`: under pipefail grep quitting early
        # can kill ss with SIGPIPE and make a busy port look free. Any state,
        # not only listening: a connection's local port blocks the bind too.
        if [ -z "$(ss -Htan "sport = :$p" 2>/dev/null)" ]; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# The last value of KEY in the feedbench report (empty when absent).
val() { awk -F= -v k="$1" '$1 == k { v = $2 } END { print v }' "$REPORT"; }
# Arithmetic on decimals: calc 'a / b' with a, b already substituted.
calc() { awk "BEGIN { x = $1; printf \"%.6g\", x }"; }
# A number with d decimals, "n/a" when empty.
fmt() { awk -v x="$1" -v d="${2:-0}" 'BEGIN { if (x == "") print "n/a"; else printf "%.*f", d, x }'; }
