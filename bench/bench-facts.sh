#!/usr/bin/env bash
# bench/bench-facts.sh — streamscope against the tshark commands that give the same facts,
# on a large generated capture (2 GiB by default).
#
# Usage:
#   bench/bench-facts.sh DIR [SIZE_MB]
#
#   DIR      where the capture is written, and reused on the next run (kept; required)
#   SIZE_MB  capture size in MiB (default 2048)
#
# Environment:
#   SEED=1            gencap seed
#   SMALL_RATE=1500   gencap --small-rate: short flows (DNS + short TCP) per second of
#                     traffic; 1500 gives about 100k flows in 2 GiB (gencap's default is 260)
#   SRTP=0.3          gencap --srtp: share of calls sent SRTP-style (auth tag, SRTCP)
#   RUNS=3            timed runs per command; the fastest is reported
#   TSHARK_RUNS=RUNS  timed runs per tshark command (they take ~0.5 min each per GiB)
#   ONLY="ss conv rtp rtmp http"   the commands to time (default: all)
#   STREAMSCOPE=path  streamscope binary (default: `cargo build --release -j1` at the git
#                     top level, in ${CARGO_TARGET_DIR:-target})
#   SKIP_BUILD=1      do not build streamscope (use the binary already built)
#   LOAD_MAX=1.0      wait until the 1-minute load average is below this before timing...
#   LOAD_WAIT=1200    ...for at most this many seconds (0: do not wait); then run anyway
#   PERF=1            also run streamscope once under `perf stat` (if perf works here)
#
# What it times (stdout of every command goes to a temporary file in DIR, deleted at exit):
#   ss    streamscope FILE --report json
#   conv  tshark -r FILE -q -z conv,tcp -z conv,udp
#   rtp   tshark -r FILE -q -o rtp.heuristic_rtp:TRUE -z rtp,streams
#   rtmp  tshark -r FILE -d tcp.port==19350,rtmpt -o rtmpt.max_packet_size:1048576 -Y rtmpt
#               -T fields -e frame.time_epoch -e tcp.stream -e rtmpt.header.typeid
#               -e rtmpt.header.csid -e rtmpt.header.bodysize -e amf.string
#   http  tshark -r FILE -Y http -T fields -e frame.time_epoch -e tcp.stream
#               -e http.request.method -e http.request.uri -e http.response.code
#               -e http.content_length -e http.time
# For each: wall seconds (best of N, warm page cache), MiB/s and MB/s of file, packets/s,
# CPU seconds (user+sys) and peak RSS (/usr/bin/time -v), and the 1-minute load average
# just before the reported run. Then streamscope's speed ratio against each tshark command
# and against their sum, and a cross-check of the facts both sides found.

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOP="$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/.." && pwd))"
ME=bench-facts.sh
# say, load1, die, usage_or_continue, check_size_mb, need_gnu_time, build_gencap,
# build_streamscope, gencap_capture, tmpfile, remove_tmps
. "$HERE/lib.sh"

usage_or_continue $# "${1:-}"
DIR="$1"
SIZE_MB="${2:-2048}"
SEED="${SEED:-1}"
SMALL_RATE="${SMALL_RATE:-1500}"
SRTP="${SRTP:-0.3}"
RUNS="${RUNS:-3}"
TSHARK_RUNS="${TSHARK_RUNS:-$RUNS}"
ONLY="${ONLY:-ss conv rtp rtmp http}"
LOAD_MAX="${LOAD_MAX:-1.0}"
LOAD_WAIT="${LOAD_WAIT:-1200}"
PERF="${PERF:-1}"

check_size_mb
mkdir -p "$DIR" || exit 1

TMPS=()
trap remove_tmps EXIT
trap 'exit 130' INT TERM

want() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# ---------------------------------------------------------------- tools
need_gnu_time
command -v tshark >/dev/null 2>&1 || die "tshark not found (apt-get install tshark)"
build_gencap
build_streamscope

# ---------------------------------------------------------------- capture
gencap_capture
grep '^gencap:' "$SUMMARY" | grep -v 'generated in' >&2

FILE_BYTES=$(wc -c < "$CAP" | tr -d ' ')
PACKETS=$(sed -n 's/^packets=\([0-9]*\).*/\1/p' "$SUMMARY")
if [ -z "$PACKETS" ] && command -v capinfos >/dev/null 2>&1; then
    PACKETS=$(capinfos -c -M "$CAP" 2>/dev/null | awk -F: '/Number of packets/ {gsub(/[^0-9]/, "", $2); print $2}')
fi

# ---------------------------------------------------------------- quiet machine
UPTIME_START="$(uptime)"
if [ "$LOAD_WAIT" -gt 0 ] 2>/dev/null; then
    waited=0
    while awk -v l="$(load1)" -v m="$LOAD_MAX" 'BEGIN { exit !(l >= m) }'; do
        if [ "$waited" -ge "$LOAD_WAIT" ]; then
            say "load $(load1) still >= $LOAD_MAX after ${waited} s: running anyway"
            break
        fi
        [ $((waited % 120)) -eq 0 ] && say "waiting for a quiet machine: load $(load1) >= $LOAD_MAX (${waited}/${LOAD_WAIT} s)"
        sleep 20
        waited=$((waited + 20))
    done
    WAITED="$waited"
else
    WAITED=0
fi
UPTIME_GO="$(uptime)"

say "warming the page cache"
cat "$CAP" > /dev/null
t0=$(date +%s%N); cat "$CAP" > /dev/null; t1=$(date +%s%N)
CAT_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')

# ---------------------------------------------------------------- timing
# time_run NAME RUNS CMD... : stdout to a temporary file; keeps the fastest run.
# Sets R_SECS R_CPU R_RSS_KB R_LOAD R_STATUS R_OUT (the output of the fastest run).
time_run() {
    local name="$1" runs="$2"; shift 2
    local i tf out err rc t0 t1 secs cpu rss ld best=""
    tmpfile tf "time.$name"; tmpfile out "out.$name"; tmpfile err "err.$name"
    tmpfile R_OUT "best.$name"
    R_STATUS=0
    for ((i = 1; i <= runs; i++)); do
        ld=$(load1)
        t0=$(date +%s%N)
        /usr/bin/time -v -o "$tf" "$@" > "$out" 2> "$err"
        rc=$?
        t1=$(date +%s%N)
        if [ $rc -ne 0 ]; then
            R_STATUS=$rc
            tail -n 5 "$err" >&2
            break
        fi
        secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
        cpu=$(awk -F': *' '/User time \(seconds\)/ { u = $2 } /System time \(seconds\)/ { s = $2 } END { printf "%.2f", u + s }' "$tf")
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$tf")
        say "  run $i: ${secs} s wall, ${cpu} s CPU, $((rss / 1024)) MiB peak RSS, load $ld"
        if [ -z "$best" ] || awk -v a="$secs" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best="$secs"; R_CPU="$cpu"; R_RSS_KB="$rss"; R_LOAD="$ld"
            mv -f -- "$out" "$R_OUT"
        fi
    done
    R_SECS="$best"
}

declare -A SECS CPUS
NAMES=()
ROWS=()
add_row() { # key label secs cpu rss_kb load
    SECS[$1]="$3"
    CPUS[$1]="$4"
    NAMES+=("$1")
    ROWS+=("$(awk -v l="$2" -v b="$FILE_BYTES" -v s="$3" -v p="${PACKETS:-0}" -v c="$4" -v r="$5" -v ld="$6" \
        'BEGIN { printf "| %s | %.3f | %.0f | %.0f | %.0f | %.2f | %.1f | %s |", l, s, b / 1048576 / s, b / 1e6 / s, p / s, c, r / 1024, ld }')")
}

LABEL_ss='streamscope FILE --report json'
LABEL_conv='tshark -q -z conv,tcp -z conv,udp'
LABEL_rtp='tshark -q -z rtp,streams (heuristic RTP)'
LABEL_rtmp='tshark -Y rtmpt -T fields (RTMP messages)'
LABEL_http='tshark -Y http -T fields (HTTP requests/responses)'

FACTS=()
if want ss; then
    say "timing: streamscope FILE --report json (best of $RUNS)"
    time_run ss "$RUNS" "$SS_BIN" "$CAP" --report json
    if [ "$R_STATUS" -eq 0 ]; then
        add_row ss "$LABEL_ss" "$R_SECS" "$R_CPU" "$R_RSS_KB" "$R_LOAD"
        if command -v python3 >/dev/null 2>&1; then
            FACTS+=("streamscope: $(python3 - "$R_OUT" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
c = r.get("capture", {})
flows = r.get("flows", [])
by = {}
for f in flows:
    t = str(f.get("transport", f.get("proto", "?"))).lower()
    by[t] = by.get(t, 0) + 1
def n(k):
    v = r.get(k)
    return len(v) if isinstance(v, list) else 0
rtp = r.get("rtp", [])
lost = sum(int(s.get("lost") or 0) for s in rtp if isinstance(s, dict))
srtp = sum(1 for s in rtp if isinstance(s, dict) and s.get("srtp"))
import os
print(f"{c.get('packets')} packets; {len(flows)} flows ({', '.join(f'{v} {k}' for k, v in sorted(by.items()))}); "
      f"{n('rtmp')} rtmp sessions; {len(rtp)} rtp streams ({srtp} srtp, {lost} lost); "
      f"{n('rtcp')} rtcp entries; {n('http')} http entries; {n('hls_players')} hls players; "
      f"report {os.path.getsize(sys.argv[1]) / 1e6:.1f} MB")
EOF
)")
        fi
    else
        ROWS+=("| $LABEL_ss | failed (status $R_STATUS) | | | | | | |")
    fi
    if [ "$PERF" = "1" ] && command -v perf >/dev/null 2>&1 && perf stat -e task-clock true >/dev/null 2>&1; then
        say "perf stat: streamscope (one more run)"
        tmpfile PERF_OUT perf
        perf stat -e task-clock,user_time,system_time,page-faults,context-switches,cpu-migrations \
            -o "$PERF_OUT" -- "$SS_BIN" "$CAP" --report json > /dev/null 2>&1
        HW="$(perf stat -e instructions,cycles true 2>&1 | grep -c 'not supported' || true)"
        PERF_TXT="$(grep -E 'task-clock|user_time|system_time|page-faults|context-switches|cpu-migrations|elapsed' "$PERF_OUT" | sed 's/^ *//; s/  */ /g')"
        [ "${HW:-0}" -gt 0 ] && PERF_TXT="$PERF_TXT
(hardware counters such as instructions/cycles: not supported on this machine)"
    fi
fi

TS_OPTS=()
if want conv; then
    say "timing: $LABEL_conv (best of $TSHARK_RUNS)"
    time_run conv "$TSHARK_RUNS" tshark -r "$CAP" -q -z conv,tcp -z conv,udp
    if [ "$R_STATUS" -eq 0 ]; then
        add_row conv "$LABEL_conv" "$R_SECS" "$R_CPU" "$R_RSS_KB" "$R_LOAD"
        FACTS+=("tshark conv: $(awk '/^TCP Conversations/ { m = "tcp" } /^UDP Conversations/ { m = "udp" } / <-> / { n[m]++ } END { printf "%d tcp + %d udp conversations", n["tcp"], n["udp"] }' "$R_OUT")")
    fi
fi
if want rtp; then
    say "timing: $LABEL_rtp (best of $TSHARK_RUNS)"
    time_run rtp "$TSHARK_RUNS" tshark -r "$CAP" -q -o rtp.heuristic_rtp:TRUE -z rtp,streams
    if [ "$R_STATUS" -eq 0 ]; then
        add_row rtp "$LABEL_rtp" "$R_SECS" "$R_CPU" "$R_RSS_KB" "$R_LOAD"
        FACTS+=("tshark rtp: $(awk '$7 ~ /^0x[0-9A-Fa-f]+$/ && $10 ~ /^-?[0-9]+$/ { n++; lost += $10 } END { printf "%d rtp streams (%d lost)", n, lost }' "$R_OUT")")
    fi
fi
if want rtmp; then
    say "timing: $LABEL_rtmp (best of $TSHARK_RUNS)"
    time_run rtmp "$TSHARK_RUNS" tshark -r "$CAP" -d tcp.port==19350,rtmpt -o rtmpt.max_packet_size:1048576 -Y rtmpt \
        -T fields -e frame.time_epoch -e tcp.stream -e rtmpt.header.typeid -e rtmpt.header.csid \
        -e rtmpt.header.bodysize -e amf.string
    if [ "$R_STATUS" -eq 0 ]; then
        add_row rtmp "$LABEL_rtmp" "$R_SECS" "$R_CPU" "$R_RSS_KB" "$R_LOAD"
        FACTS+=("tshark rtmp: $(awk -F'\t' '{ n++; s[$2] = 1; k = split($3, t, ","); m += k } END { printf "%d frames, %d RTMP messages, %d tcp streams", n, m, length(s) }' "$R_OUT")")
    fi
fi
if want http; then
    say "timing: $LABEL_http (best of $TSHARK_RUNS)"
    time_run http "$TSHARK_RUNS" tshark -r "$CAP" -Y http -T fields -e frame.time_epoch -e tcp.stream \
        -e http.request.method -e http.request.uri -e http.response.code -e http.content_length -e http.time
    if [ "$R_STATUS" -eq 0 ]; then
        add_row http "$LABEL_http" "$R_SECS" "$R_CPU" "$R_RSS_KB" "$R_LOAD"
        FACTS+=("tshark http: $(awk -F'\t' '$3 != "" { q++ } $5 != "" { r++ } $4 ~ /\.ts$/ { seg++ } $4 ~ /\.m3u8$/ { pl++ } END { printf "%d requests (%d .m3u8, %d .ts), %d responses", q, pl, seg, r }' "$R_OUT")")
    fi
fi
UPTIME_END="$(uptime)"

# ---------------------------------------------------------------- report
echo
echo "capture: $(basename "$CAP"): $FILE_BYTES bytes ($(awk -v b="$FILE_BYTES" 'BEGIN { printf "%.1f MiB", b / 1048576 }')), ${PACKETS:-?} packets"
grep '^gencap: flows started' "$SUMMARY" | sed 's/^gencap: /capture: /'
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo), $(uname -sr); $(tshark --version 2>/dev/null | head -n 1)"
echo "streamscope: $("$SS_BIN" --version 2>/dev/null), binary built $(date -u -r "$SS_BIN" '+%Y-%m-%d %H:%M UTC'); source tree now at $(git -C "$TOP" describe --always --dirty 2>/dev/null || echo '?')"
echo "runs: streamscope best of $RUNS, tshark best of $TSHARK_RUNS; page cache warm; cat FILE > /dev/null: $CAT_SECS s ($(awk -v b="$FILE_BYTES" -v s="$CAT_SECS" 'BEGIN { printf "%.0f MiB/s", b / 1048576 / s }'))"
echo "load at start:   $UPTIME_START"
echo "load when timed: $UPTIME_GO (waited $WAITED s for load < $LOAD_MAX)"
echo "load at end:     $UPTIME_END"
echo
echo "| command | seconds | MiB/s | MB/s | packets/s | CPU s | peak RSS MiB | load1 |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for r in "${ROWS[@]}"; do echo "$r"; done
echo
if [ -n "${SECS[ss]:-}" ] && [ ${#NAMES[@]} -gt 1 ]; then
    sum=0; csum=0
    echo "speed ratio (tshark time / streamscope time), on wall seconds and on CPU seconds:"
    for k in "${NAMES[@]}"; do
        [ "$k" = ss ] && continue
        sum=$(awk -v a="$sum" -v b="${SECS[$k]}" 'BEGIN { print a + b }')
        csum=$(awk -v a="$csum" -v b="${CPUS[$k]}" 'BEGIN { print a + b }')
        awk -v t="${SECS[$k]}" -v s="${SECS[ss]}" -v ct="${CPUS[$k]}" -v cs="${CPUS[ss]}" -v k="$k" \
            'BEGIN { printf "  vs tshark %-5s %6.1fx wall (%.3f s vs %.3f s), %6.1fx CPU\n", k, t / s, s, t, ct / cs }'
    done
    if [ "$sum" != 0 ]; then
        awk -v t="$sum" -v s="${SECS[ss]}" -v ct="$csum" -v cs="${CPUS[ss]}" \
            'BEGIN { printf "  vs the sum  %6.1fx wall (%.3f s vs %.3f s), %6.1fx CPU\n", t / s, s, t, ct / cs }'
    fi
    echo
fi
if [ ${#FACTS[@]} -gt 0 ]; then
    echo "facts found:"
    for f in "${FACTS[@]}"; do echo "  $f"; done
    echo
fi
if [ -n "${PERF_TXT:-}" ]; then
    echo "perf stat, streamscope FILE --report json > /dev/null:"
    echo "$PERF_TXT" | sed 's/^/  /'
    echo
fi
echo "capture kept in: $DIR"
