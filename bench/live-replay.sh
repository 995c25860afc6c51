#!/usr/bin/env bash
# bench/live-replay.sh — live capture under load: replay a generated capture onto the
# loopback interface with tcpreplay at increasing rates, and count what streamscope (and, in
# a separate run at the same rate, tcpdump) saw and dropped.
#
# Usage (as root, or with CAP_NET_RAW/CAP_NET_ADMIN for all three tools):
#   bench/live-replay.sh DIR [SIZE_MB]
#
#   DIR      where the capture is written, and reused on the next run (kept; required)
#   SIZE_MB  capture size in MiB (default 300)
#
# Environment:
#   RATES="100 500 1000 2000 top"   replay rates: a number is Mbit/s (tcpreplay -M),
#                     "top" is --topspeed, "pps:N" is --pps N
#   FILTER=""         BPF filter given to both streamscope (-f) and tcpdump (default: none)
#   TCPDUMP_BUFFER_KIB=32768   tcpdump -B: the same 32 MiB kernel buffer streamscope asks for
#   SEED=1 SMALL_RATE=1500 SRTP=0.3   gencap options (as in bench-facts.sh)
#   STREAMSCOPE=path  streamscope binary (default: ${CARGO_TARGET_DIR:-target}/release/streamscope,
#                     built with `cargo build --release -j1` unless SKIP_BUILD=1)
#   SETTLE=2          seconds between starting a capture and starting the replay
#   LOAD_MAX=1.0 LOAD_WAIT=180   wait (at most LOAD_WAIT s) for a 1-minute load below LOAD_MAX
#                     before each rate; then run anyway and record the load
#   NETNS=1           run the three tools in a network namespace made for the run (its own
#                     lo, deleted at exit), so that other software capturing on the host's lo
#                     does not see the replay and the replay's counts do not include other
#                     loopback traffic; NETNS=0 uses the host's lo
#
# Traffic goes only to a loopback interface (tcpreplay -i lo). The frames carry their
# original Ethernet addresses, which are not lo's, so the kernel's IP layer discards them
# after the capture taps have seen them: nothing is routed or answered. On lo each frame is
# seen once by a libpcap capture: the kernel hands the capture socket both the outgoing and
# the incoming copy (tcpdump's "received by filter" is twice the packets sent) and libpcap
# skips the outgoing one.
#
# Per rate, two runs:
#   1. timeout --foreground -s INT T streamscope -i lo --duration T --report json -q [-f FILTER]
#      (as root: -Z root)
#      while tcpreplay -i lo <rate> FILE runs; streamscope is stopped with one SIGINT 2 s after
#      tcpreplay ends (T is a safety bound); the report's capture.packets,
#      kernel_dropped, if_dropped and channel_dropped are read;
#   2. the same with tcpdump -i lo -B $TCPDUMP_BUFFER_KIB -w /dev/null [FILTER]; its
#      "packets captured" and "dropped by kernel" lines are read.
# tcpreplay's "Actual: N packets ... sent" and its rate are reported for each run.
# Only the processes this script starts are signalled, by PID. `timeout --foreground` is
# needed: without it, timeout sends the signal to the command and then again to its process
# group, and streamscope takes a second SIGINT as "quit now" (exit 130, no report).

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOP="$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/.." && pwd))"
ME=live-replay.sh
# say, load1, die, usage_or_continue, check_size_mb, build_gencap, build_streamscope,
# gencap_capture, tmpfile, remove_tmps
. "$HERE/lib.sh"

usage_or_continue $# "${1:-}"
DIR="$1"
SIZE_MB="${2:-300}"
RATES="${RATES:-100 500 1000 2000 top}"
FILTER="${FILTER:-}"
TCPDUMP_BUFFER_KIB="${TCPDUMP_BUFFER_KIB:-32768}"
SEED="${SEED:-1}"
SMALL_RATE="${SMALL_RATE:-1500}"
SRTP="${SRTP:-0.3}"
SETTLE="${SETTLE:-2}"
LOAD_MAX="${LOAD_MAX:-1.0}"
LOAD_WAIT="${LOAD_WAIT:-180}"
IFACE=lo
NETNS="${NETNS:-1}"

check_size_mb
mkdir -p "$DIR" || exit 1

TMPS=()
PIDS=()
NS=""
IN_NS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    if [ -n "$NS" ]; then
        ip netns del "$NS" 2>/dev/null
    fi
    remove_tmps
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for t in tcpreplay tcpdump timeout python3; do
    command -v "$t" >/dev/null 2>&1 || { echo "live-replay.sh: $t not found (apt-get install tcpreplay tcpdump)" >&2; exit 1; }
done
build_gencap
build_streamscope
gencap_capture
FILE_BYTES=$(wc -c < "$CAP" | tr -d ' ')
FILE_PKTS=$(capinfos -c -M "$CAP" 2>/dev/null | awk -F: '/Number of packets/ {gsub(/[^0-9]/, "", $2); print $2}')
cat "$CAP" > /dev/null   # page cache

if [ "$NETNS" = 1 ]; then
    command -v ip >/dev/null 2>&1 || { echo "live-replay.sh: ip (iproute2) not found; use NETNS=0" >&2; exit 1; }
    NS="streamscope-bench-$$"
    ip netns add "$NS" || { NS=""; echo "live-replay.sh: cannot create a network namespace; use NETNS=0" >&2; exit 1; }
    ip -n "$NS" link set lo up || exit 1
    IN_NS=(ip netns exec "$NS")
    say "network namespace $NS (its own lo)"
fi

# As root, streamscope gives up root for `nobody` once the capture is open; keep root so
# that the run does not depend on what `nobody` may do (the report goes to a file we own).
SS_USER=()
[ "$(id -u)" = 0 ] && SS_USER=(-Z root)

wait_quiet() {
    local waited=0
    while awk -v l="$(load1)" -v m="$LOAD_MAX" 'BEGIN { exit !(l >= m) }' && [ "$waited" -lt "$LOAD_WAIT" ]; do
        sleep 10
        waited=$((waited + 10))
    done
}

# replay_args RATE -> tcpreplay rate options; bound SECS for the capture
replay_args() {
    case "$1" in
        top) R_ARGS=(--topspeed); R_BOUND=120 ;;
        pps:*) R_ARGS=(--pps "${1#pps:}"); R_BOUND=$(awk -v p="$FILE_PKTS" -v r="${1#pps:}" 'BEGIN { printf "%d", p / r * 1.5 + 30 }') ;;
        *) R_ARGS=(-M "$1"); R_BOUND=$(awk -v b="$FILE_BYTES" -v r="$1" 'BEGIN { printf "%d", b * 8 / (r * 1e6) * 1.5 + 30 }') ;;
    esac
}

# run_replay OUT : tcpreplay onto lo, bounded; sets SENT, SENT_RATE, SENT_SECS, SENT_FAILED
run_replay() {
    timeout -k 5 "$R_BOUND" "${IN_NS[@]}" tcpreplay -i "$IFACE" "${R_ARGS[@]}" "$CAP" > "$1" 2>&1
    SENT=$(sed -n 's/^[[:space:]]*Actual: \([0-9]*\) packets.*/\1/p' "$1" | head -n 1)
    SENT_SECS=$(sed -n 's/^[[:space:]]*Actual: .* sent in \([0-9.]*\) seconds.*/\1/p' "$1" | head -n 1)
    SENT_RATE=$(sed -n 's/^[[:space:]]*Rated: .*, \([0-9.]*\) Mbps, \([0-9.]*\) pps.*/\1 Mbps, \2 pps/p' "$1" | head -n 1)
    SENT_FAILED=$(sed -n 's/^[[:space:]]*Failed packets: *\([0-9]*\).*/\1/p' "$1" | head -n 1)
}

# stop_pid PID: SIGINT, then wait (the capture's own timeout bounds it too); sets STOP_RC
stop_pid() {
    kill -INT "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    STOP_RC=$?
    local p keep=()
    for p in "${PIDS[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
    PIDS=("${keep[@]}")
}

ROWS=()
for rate in $RATES; do
    replay_args "$rate"
    wait_quiet
    LOAD_SS=$(load1)
    say "rate $rate: streamscope -i $IFACE (bound ${R_BOUND} s)"
    tmpfile SS_OUT ss.json; tmpfile SS_ERR ss.err; tmpfile TR1 tr1
    timeout --foreground -s INT -k 10 "$R_BOUND" "${IN_NS[@]}" "$SS_BIN" -i "$IFACE" ${FILTER:+-f "$FILTER"} "${SS_USER[@]}" \
        --duration "$R_BOUND" --report json -q > "$SS_OUT" 2> "$SS_ERR" &
    SS_PID=$!
    PIDS+=("$SS_PID")
    sleep "$SETTLE"
    run_replay "$TR1"
    SS_SENT="$SENT"; SS_SENT_RATE="$SENT_RATE"; SS_SENT_SECS="$SENT_SECS"; SS_FAILED="$SENT_FAILED"
    sleep 2
    stop_pid "$SS_PID"
    SS_RC=$STOP_RC
    read -r SS_PKTS SS_KD SS_IFD SS_CHD < <(python3 - "$SS_OUT" <<'EOF'
import json, sys
try:
    c = json.load(open(sys.argv[1]))["capture"]
    print(c.get("packets"), c.get("kernel_dropped"), c.get("if_dropped"), c.get("channel_dropped"))
except Exception:
    print("? ? ? ?")
EOF
)
    [ "$SS_PKTS" = "?" ] && { say "no streamscope report (exit status $SS_RC):"; tail -n 3 "$SS_ERR" >&2; }

    wait_quiet
    LOAD_TD=$(load1)
    say "rate $rate: tcpdump -i $IFACE -B $TCPDUMP_BUFFER_KIB -w /dev/null"
    tmpfile TD_ERR td.err; tmpfile TR2 tr2
    # shellcheck disable=SC2086
    timeout --foreground -s INT -k 10 "$R_BOUND" "${IN_NS[@]}" tcpdump -i "$IFACE" -B "$TCPDUMP_BUFFER_KIB" -w /dev/null $FILTER 2> "$TD_ERR" &
    TD_PID=$!
    PIDS+=("$TD_PID")
    sleep "$SETTLE"
    run_replay "$TR2"
    TD_SENT="$SENT"
    sleep 2
    stop_pid "$TD_PID"
    TD_CAPT=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$TD_ERR")
    TD_RECV=$(sed -n 's/^\([0-9]*\) packets received by filter.*/\1/p' "$TD_ERR")
    TD_DROP=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$TD_ERR")

    SS_MISS=$(awk -v a="${SS_SENT:-x}" -v b="$SS_PKTS" 'BEGIN { if (a ~ /^[0-9]+$/ && b ~ /^[0-9]+$/) print a - b; else print "?" }')
    TD_MISS=$(awk -v a="${TD_SENT:-x}" -v b="${TD_CAPT:-x}" 'BEGIN { if (a ~ /^[0-9]+$/ && b ~ /^[0-9]+$/) print a - b; else print "?" }')
    ROWS+=("| $rate | ${SS_SENT:-?} | ${SS_SENT_RATE:-?} | ${SS_SENT_SECS:-?} | ${SS_FAILED:-?} | $SS_PKTS | $SS_MISS | $SS_KD / $SS_IFD / $SS_CHD | ${TD_SENT:-?} | ${TD_CAPT:-?} | $TD_MISS | ${TD_RECV:-?} | ${TD_DROP:-?} | $LOAD_SS / $LOAD_TD |")
    say "${ROWS[-1]}"
done

echo
echo "capture: $(basename "$CAP"): $FILE_BYTES bytes, ${FILE_PKTS:-?} packets; replayed onto $IFACE$([ -n "$NS" ] && echo " of a network namespace of its own")${FILTER:+ with filter '$FILTER'}"
echo "machine: $(nproc) cores, $(uname -sr); $(tcpreplay --version 2>&1 | head -n 1); $(tcpdump --version 2>&1 | head -n 1)"
echo "streamscope: $("$SS_BIN" --version 2>/dev/null), binary built $(date -u -r "$SS_BIN" '+%Y-%m-%d %H:%M UTC') (kernel buffer 32 MiB); tcpdump -B $TCPDUMP_BUFFER_KIB KiB"
echo "load at end: $(uptime)"
echo
echo "| rate | sent (run 1) | tcpreplay rate | s | failed | streamscope packets | not seen | kernel / if / channel dropped | sent (run 2) | tcpdump captured | not seen | received by filter | dropped by kernel | load1 (run 1 / 2) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for r in "${ROWS[@]}"; do echo "$r"; done
echo
echo "capture kept in: $DIR"
