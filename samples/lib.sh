# Shell helpers shared by the make-*-samples.sh scripts (sourced, not run). Each script sets
# WORK (a mktemp -d scratch directory), PIDS=() and NETNS=() before sourcing, then installs
# `trap cleanup EXIT`.

log() { printf '== %s\n' "$*" >&2; }

cleanup() {
    local p ns
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    for ns in "${NETNS[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$WORK"
}

# spawn CMD...: start CMD in the background bounded by `timeout`, remember its PID
# in LAST_PID (and in PIDS for cleanup).
spawn() {
    timeout 120 "$@" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# forget PID: drop an already reaped PID from the cleanup list.
forget() {
    local p keep=()
    for p in "${PIDS[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
}

# stop PID [SIGNAL]: stop (timeout forwards the signal to its child), then reap.
stop() {
    kill -"${2:-TERM}" "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    forget "$1"
}

# stop_bg: stop every background helper still running.
stop_bg() {
    local p
    for p in "${PIDS[@]}"; do
        stop "$p"
    done
}

# wait_for_text FILE REGEX [TENTHS]: wait (default 10 s) until FILE contains REGEX.
wait_for_text() {
    local i
    for i in $(seq "${3:-100}"); do
        if grep -Eq "$2" "$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "timed out waiting for '$2' in $1" >&2
    cat "$1" >&2 || true
    return 1
}
