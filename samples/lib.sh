# Shell helpers shared by the make-*-samples.sh scripts (sourced, not run): processes,
# captures and network namespaces. Each script sets
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

# capture_start NAME CMD...: start a capture tool (tcpdump, dumpcap), wait until it is capturing.
capture_start() {
    local name=$1; shift
    spawn "$@" 2>"$WORK/$name.cap.log"
    CAP_PID=$LAST_PID
    CAP_NAME=$name
    wait_for_text "$WORK/$name.cap.log" 'listening on|Capturing on'
    sleep 0.5
}

# capture_stop: stop the running capture; fail if the kernel dropped packets.
capture_stop() {
    # let the capture ring hand over the last packets before stopping
    sleep 1.5
    stop "$CAP_PID"
    local log="$WORK/$CAP_NAME.cap.log"
    if grep -Eq '(^|[^0-9])[1-9][0-9]* packets? dropped by (kernel|interface)|dropped on interface .*: [0-9]+/[1-9]' "$log"; then
        echo "capture '$CAP_NAME' dropped packets:" >&2
        cat "$log" >&2
        return 1
    fi
}

# wait_port HOST PORT: wait (max 10 s) until a TCP connect succeeds (inside $NS when it is set).
wait_port() {
    local i
    for i in $(seq 100); do
        if ${NS:+ip netns exec "$NS"} timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "port $1:$2 never opened${NS:+ in $NS}" >&2
    return 1
}

# ns_up NAME: a fresh network namespace with only its loopback up; NS=NAME.
ns_up() {
    ip netns del "$1" 2>/dev/null || true
    ip netns add "$1"
    NETNS+=("$1")
    ip -n "$1" link set lo up
    NS=$1
}

# ns_down: delete the namespace $NS.
ns_down() {
    local ns keep=()
    ip netns del "$NS"
    for ns in "${NETNS[@]}"; do
        [ "$ns" = "$NS" ] || keep+=("$ns")
    done
    NETNS=("${keep[@]}")
}

# in_ns CMD...: run CMD in the namespace $NS (ip execs CMD: same PID).
in_ns() { ip netns exec "$NS" "$@"; }

# capture_ns NAME FILE [FILTER]: tcpdump on the loopback of $NS.
capture_ns() {
    capture_start "$1" ip netns exec "$NS" tcpdump -Z root -U --immediate-mode -B 65536 -n -s 0 -i lo -w "$2" ${3:+"$3"}
}

# stop_ffmpeg PID: stop an ffmpeg player started by spawn. SIGINT (timeout passes it on);
# ffmpeg only notices a second one while its HLS/DASH demuxer waits for the playlist to
# change, so send another after 1 s, and SIGTERM after 2 s; then reap.
stop_ffmpeg() {
    local i
    kill -INT "$1" 2>/dev/null || true
    for i in $(seq 30); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
        case $i in
        10) kill -INT "$1" 2>/dev/null || true ;;
        20) kill -TERM "$1" 2>/dev/null || true ;;
        esac
    done
    wait "$1" 2>/dev/null || true
    forget "$1"
}
