# Helpers shared by bench/run.sh and bench/cluster.sh (sourced, not run).
# val reads $REPORT, the feedbench key=value report of the calling script.

# A free TCP port on 127.0.0.1 in 30000-39999 (services.sh uses 20000-29999),
# other than $1.
free_port() {
    local p n
    for ((n = 0; n < 200; n++)); do
        p=$((30000 + RANDOM % 10000))
        [ "$p" = "${1:-0}" ] && continue
        # A variable, not `ss | grep -q`: under pipefail grep quitting early
        # can kill ss with SIGPIPE and make a busy port look free.
        if [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; then
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
