#!/usr/bin/env bash
# bench/bench.sh — time streamscope against tshark on a large generated capture.
#
# Usage:
#   bench/bench.sh [SIZE_MB] [DIR]
#
#   SIZE_MB  size of the generated capture in MiB (default 1024)
#   DIR      where the capture is written/reused (default: a fresh `mktemp -d`
#            under ${TMPDIR:-/tmp}, removed on exit unless KEEP=1). A DIR you
#            pass yourself is never removed, so a capture made once is reused
#            on the next run (same size and seed => same file name and bytes).
#
# Environment:
#   SEED=1             gencap seed
#   RUNS=1             timed runs per tool; the fastest run is reported
#   KEEP=1             keep the default temporary directory
#   TSHARK_UDP=1       also time `tshark -q -z conv,udp` (0 to skip)
#   SKIP_BUILD=1       do not run `cargo build --release` for streamscope
#   STREAMSCOPE=path   streamscope binary to time (default: <git top>/target/release/streamscope)
#   CARGO_FLAGS="..."  extra flags for the streamscope `cargo build --release`
#   CARGO_BUILD_JOBS   parallel build jobs (default 1: the machine is shared)
#
# What it does:
#   1. builds bench/gencap (release) and streamscope (`cargo build --release`
#      at the git top level),
#   2. generates DIR/gencap-<SIZE>mb-seed<SEED>.pcap unless already present,
#   3. warms the page cache (cat FILE > /dev/null),
#   4. times with /usr/bin/time -v (wall clock and peak RSS):
#        streamscope FILE --report json > /dev/null
#        tshark -r FILE -q -z conv,tcp > /dev/null     (the same flow facts)
#        tshark -r FILE -q -z conv,udp > /dev/null     (unless TSHARK_UDP=0)
#   5. prints a table: tool, seconds, MiB/s, packets/s, peak RSS, and how many
#      times faster streamscope is than tshark conv,tcp.
#   If streamscope is missing or fails, that is reported and tshark still runs.
#   MB figures are MiB (2^20 bytes), as gencap's --size-mb.

set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOP="$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/.." && pwd))"

SIZE_MB="${1:-1024}"
SEED="${SEED:-1}"
RUNS="${RUNS:-1}"
TSHARK_UDP="${TSHARK_UDP:-1}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

case "$SIZE_MB" in
    ''|*[!0-9]*) echo "bench.sh: SIZE_MB must be a whole number of MiB, got '$SIZE_MB'" >&2; exit 2 ;;
esac

CLEAN_DIR=""
if [ $# -ge 2 ]; then
    DIR="$2"
    mkdir -p "$DIR" || exit 1
else
    DIR="$(mktemp -d "${TMPDIR:-/tmp}/streamscope-bench.XXXXXX")" || exit 1
    if [ "${KEEP:-0}" != "1" ]; then
        CLEAN_DIR="$DIR"
    fi
fi
cleanup() {
    if [ -n "$CLEAN_DIR" ]; then
        rm -rf -- "$CLEAN_DIR"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '== %s\n' "$*" >&2; }

# ---------------------------------------------------------------- tools
if [ ! -x /usr/bin/time ]; then
    say "/usr/bin/time is missing: installing the 'time' package"
    if command -v apt-get >/dev/null 2>&1; then
        (apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y time >/dev/null 2>&1; }) \
            || { echo "bench.sh: could not install /usr/bin/time" >&2; exit 1; }
    else
        echo "bench.sh: /usr/bin/time not found and apt-get unavailable" >&2
        exit 1
    fi
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "bench.sh: cargo not found" >&2
    exit 1
fi

say "building gencap (release, -j$CARGO_BUILD_JOBS)"
if ! cargo build --release --quiet --manifest-path "$HERE/gencap/Cargo.toml"; then
    echo "bench.sh: building gencap failed" >&2
    exit 1
fi
GENCAP="$HERE/gencap/target/release/gencap"

SS_BIN="${STREAMSCOPE:-$TOP/target/release/streamscope}"
SS_NOTE=""
if [ -z "${STREAMSCOPE:-}" ] && [ "${SKIP_BUILD:-0}" != "1" ]; then
    say "building streamscope (cargo build --release ${CARGO_FLAGS:-} in $TOP, -j$CARGO_BUILD_JOBS)"
    # shellcheck disable=SC2086
    if ! (cd "$TOP" && cargo build --release ${CARGO_FLAGS:-} 2> "$DIR/streamscope-build.log"); then
        SS_NOTE="cargo build --release failed (last lines below)"
        tail -n 15 "$DIR/streamscope-build.log" >&2
    fi
fi
if [ ! -x "$SS_BIN" ]; then
    SS_NOTE="${SS_NOTE:+$SS_NOTE; }binary $SS_BIN not found"
fi

HAVE_TSHARK=1
command -v tshark >/dev/null 2>&1 || HAVE_TSHARK=0

# ---------------------------------------------------------------- capture
CAP="$DIR/gencap-${SIZE_MB}mb-seed${SEED}.pcap"
SUMMARY="$CAP.summary"
if [ -s "$CAP" ] && [ -s "$SUMMARY" ]; then
    say "reusing $CAP"
else
    say "generating $CAP ($SIZE_MB MiB, seed $SEED)"
    rm -f -- "$CAP" "$SUMMARY"
    if ! "$GENCAP" "$CAP.part" --size-mb "$SIZE_MB" --seed "$SEED" > "$SUMMARY.part"; then
        echo "bench.sh: gencap failed" >&2
        rm -f -- "$CAP.part" "$SUMMARY.part"
        exit 1
    fi
    mv -f -- "$CAP.part" "$CAP"
    sed "s|$CAP.part|$CAP|" "$SUMMARY.part" > "$SUMMARY" && rm -f -- "$SUMMARY.part"
fi
grep '^gencap:' "$SUMMARY" >&2

FILE_BYTES=$(wc -c < "$CAP" | tr -d ' ')
PACKETS=""
if command -v capinfos >/dev/null 2>&1; then
    PACKETS=$(capinfos -c -M "$CAP" 2>/dev/null | awk -F: '/Number of packets/ {gsub(/[^0-9]/, "", $2); print $2}')
fi
if [ -z "$PACKETS" ]; then
    PACKETS=$(sed -n 's/^packets=\([0-9]*\).*/\1/p' "$SUMMARY")
fi

say "warming the page cache"
cat "$CAP" > /dev/null

# ---------------------------------------------------------------- timing
# to_seconds "h:mm:ss" | "m:ss.ss" -> seconds
to_seconds() {
    awk -v t="$1" 'BEGIN { n = split(t, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.3f", s }'
}

# time_run NAME CMD... : runs CMD RUNS times under /usr/bin/time -v, keeps the fastest.
# Sets R_SECS, R_RSS_KB, R_STATUS.
time_run() {
    local name="$1"; shift
    local best="" best_rss="" status=0 i tf secs rss rc t0 t1
    tf="$DIR/time.$name"
    for ((i = 1; i <= RUNS; i++)); do
        t0=$(date +%s%N)
        /usr/bin/time -v -o "$tf" "$@" > /dev/null 2> "$DIR/stderr.$name"
        rc=$?
        t1=$(date +%s%N)
        if [ $rc -ne 0 ]; then
            status=$rc
            break
        fi
        # /usr/bin/time reports wall clock in 10 ms steps; use the nanosecond
        # clock around it when available (same wall time, finer resolution).
        secs=$(to_seconds "$(sed -n 's/.*Elapsed (wall clock) time[^:]*: *//p' "$tf")")
        case "$t0$t1" in
            *N*) ;;
            *) secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }') ;;
        esac
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$tf")
        if [ -z "$best" ] || awk -v a="$secs" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best="$secs"; best_rss="$rss"
        fi
    done
    R_SECS="$best"; R_RSS_KB="$best_rss"; R_STATUS=$status
}

ROWS=()
add_row() { # tool secs rss_kb
    local mibs pps rss
    mibs=$(awk -v b="$FILE_BYTES" -v s="$2" 'BEGIN { printf "%.1f", b / 1048576 / s }')
    pps=$(awk -v p="${PACKETS:-0}" -v s="$2" 'BEGIN { printf "%.0f", p / s }')
    rss=$(awk -v k="$3" 'BEGIN { printf "%.1f", k / 1024 }')
    ROWS+=("$(printf '%-34s %9.3f %9s %12s %10s' "$1" "$2" "$mibs" "$pps" "$rss")")
}

SS_SECS=""
if [ -z "$SS_NOTE" ]; then
    say "timing: streamscope $CAP --report json"
    time_run streamscope "$SS_BIN" "$CAP" --report json
    if [ "$R_STATUS" -eq 0 ]; then
        SS_SECS="$R_SECS"
        add_row "streamscope --report json" "$R_SECS" "$R_RSS_KB"
    else
        SS_NOTE="streamscope exited with status $R_STATUS"
        tail -n 10 "$DIR/stderr.streamscope" >&2
    fi
fi

TS_SECS=""
if [ "$HAVE_TSHARK" = 1 ]; then
    say "timing: tshark -r FILE -q -z conv,tcp"
    time_run tshark_tcp tshark -r "$CAP" -q -z conv,tcp
    if [ "$R_STATUS" -eq 0 ]; then
        TS_SECS="$R_SECS"
        add_row "tshark -q -z conv,tcp" "$R_SECS" "$R_RSS_KB"
    else
        echo "bench.sh: tshark conv,tcp exited with status $R_STATUS" >&2
    fi
    if [ "$TSHARK_UDP" = 1 ]; then
        say "timing: tshark -r FILE -q -z conv,udp"
        time_run tshark_udp tshark -r "$CAP" -q -z conv,udp
        if [ "$R_STATUS" -eq 0 ]; then
            add_row "tshark -q -z conv,udp" "$R_SECS" "$R_RSS_KB"
        else
            echo "bench.sh: tshark conv,udp exited with status $R_STATUS" >&2
        fi
    fi
else
    echo "bench.sh: tshark not found (apt-get install tshark): skipping the tshark runs" >&2
fi

# ---------------------------------------------------------------- report
echo
echo "capture: $(basename "$CAP")  $FILE_BYTES bytes ($(awk -v b="$FILE_BYTES" 'BEGIN { printf "%.1f", b / 1048576 }') MiB), ${PACKETS:-?} packets"
echo "machine: $(nproc 2>/dev/null || echo '?') cores; $(tshark --version 2>/dev/null | head -n 1 || true)"
echo "streamscope: $SS_BIN ($(git -C "$TOP" describe --always --dirty 2>/dev/null || echo 'no commit yet'))"
echo "runs per tool: $RUNS (fastest shown); page cache warm"
echo
printf '%-34s %9s %9s %12s %10s\n' "tool" "seconds" "MiB/s" "packets/s" "peak RSS MiB"
for r in "${ROWS[@]}"; do
    echo "$r"
done
if [ -n "$SS_NOTE" ]; then
    printf '%-34s %s\n' "streamscope" "not measured: $SS_NOTE"
fi
echo
if [ -n "$SS_SECS" ] && [ -n "$TS_SECS" ]; then
    awk -v a="$TS_SECS" -v b="$SS_SECS" 'BEGIN { printf "speed ratio: streamscope is %.1fx faster than tshark conv,tcp (%.3f s vs %.3f s)\n", a / b, b, a }'
else
    echo "speed ratio: n/a (needs both streamscope and tshark timings)"
fi
if [ -z "$CLEAN_DIR" ]; then
    echo "capture kept in: $DIR"
fi
