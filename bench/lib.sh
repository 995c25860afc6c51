# Shell helpers shared by the bench scripts (sourced, not run). The script sets ME (its name,
# for messages), and before `gencap_capture` also DIR, SIZE_MB, SEED and the gencap options.

say() { printf '== %s\n' "$*" >&2; }
load1() { cut -d' ' -f1 /proc/loadavg; }
die() { echo "$ME: $*" >&2; exit 1; }

# usage_or_continue ARGC [FIRST-ARG]: with no argument or -h/--help, print the script's
# header comment and exit 2.
usage_or_continue() {
    if [ "$1" -lt 1 ] || [ "${2:-}" = "-h" ] || [ "${2:-}" = "--help" ]; then
        sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
    fi
}

# check_size_mb: SIZE_MB must be a whole number.
check_size_mb() {
    case "$SIZE_MB" in
        ''|*[!0-9]*) echo "$ME: SIZE_MB must be a whole number of MiB, got '$SIZE_MB'" >&2; exit 2 ;;
    esac
}

# need_gnu_time: /usr/bin/time (package `time`), installed through apt-get when missing.
need_gnu_time() {
    [ -x /usr/bin/time ] && return 0
    say "/usr/bin/time is missing: installing the 'time' package"
    command -v apt-get >/dev/null 2>&1 || die "/usr/bin/time not found and apt-get unavailable"
    (apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y time >/dev/null 2>&1; }) \
        || die "/usr/bin/time is needed (package 'time')"
}

# build_gencap: builds bench/gencap (release); GENCAP is its binary.
build_gencap() {
    command -v cargo >/dev/null 2>&1 || die "cargo not found"
    say "building gencap (release, -j${CARGO_BUILD_JOBS:-1})"
    cargo build --release --quiet -j"${CARGO_BUILD_JOBS:-1}" --manifest-path "$HERE/gencap/Cargo.toml" || die "building gencap failed"
    GENCAP="$HERE/gencap/target/release/gencap"
}

# build_streamscope: SS_BIN is $STREAMSCOPE, or the release binary of the checkout, built
# unless SKIP_BUILD=1.
build_streamscope() {
    if [ -n "${STREAMSCOPE:-}" ]; then
        SS_BIN="$STREAMSCOPE"
    else
        SS_BIN="${CARGO_TARGET_DIR:-$TOP/target}/release/streamscope"
        if [ "${SKIP_BUILD:-0}" != "1" ]; then
            say "building streamscope (cargo build --release -j1)"
            (cd "$TOP" && cargo build --release -j1 --quiet) || die "building streamscope failed"
        fi
    fi
    [ -x "$SS_BIN" ] || die "streamscope binary $SS_BIN not found"
}

# gencap_capture: CAP is DIR/gencap-<SIZE>mb-seed<SEED>-small<R>-srtp<F>.pcap, generated
# unless it (and its summary, SUMMARY) is already there; the partial files are removed at exit.
gencap_capture() {
    CAP="$DIR/gencap-${SIZE_MB}mb-seed${SEED}-small${SMALL_RATE}-srtp${SRTP}.pcap"
    SUMMARY="$CAP.summary"
    if [ -s "$CAP" ] && [ -s "$SUMMARY" ]; then
        say "reusing $CAP"
        return 0
    fi
    say "generating $CAP ($SIZE_MB MiB, seed $SEED, --small-rate $SMALL_RATE, --srtp $SRTP)"
    rm -f -- "$CAP" "$SUMMARY"
    TMPS+=("$CAP.part" "$SUMMARY.part")
    "$GENCAP" "$CAP.part" --size-mb "$SIZE_MB" --seed "$SEED" --small-rate "$SMALL_RATE" --srtp "$SRTP" > "$SUMMARY.part" \
        || die "gencap failed"
    mv -f -- "$CAP.part" "$CAP"
    sed "s|$CAP.part|$(basename "$CAP")|" "$SUMMARY.part" > "$SUMMARY"
}

# tmpfile VAR SUFFIX: a temporary file in DIR, removed at exit (listed in TMPS).
tmpfile() {
    local f
    f="$(mktemp "$DIR/.$ME.$2.XXXXXX")" || exit 1
    TMPS+=("$f")
    printf -v "$1" '%s' "$f"
}

# remove_tmps: removes the files listed in TMPS (for the script's exit trap).
remove_tmps() {
    if [ ${#TMPS[@]} -gt 0 ]; then
        rm -f -- "${TMPS[@]}"
    fi
}
