#!/usr/bin/env bash
# Regenerate the QUIC / HTTP/3 sample capture, its recorded TLS secrets, the peers' logs and
# its tshark fixtures.
#
#   sudo bash samples/make-quic-samples.sh             # capture, checks, fixtures
#   sudo bash samples/make-quic-samples.sh fixtures    # only the checks and the fixtures
#
# Needs root (tcpdump on lo), tshark/capinfos 4.0, tcpdump, ffmpeg (libx264, aac), openssl and
# a python3 with aioquic (`pip install aioquic`; made with aioquic 1.7.2, pylsqpack 1.0.0).
# Everything runs on 127.0.0.1 in a `mktemp -d` scratch directory removed on exit; every
# command is bounded with `timeout`; only the processes started here are stopped, by PID.
#
#   quic-h3-keylog.pcap     tools/h3-peers.py: an aioquic HTTP/3 server on 127.0.0.1:4433
#                           serving a small HLS VOD (ffmpeg: playlist + 3 MPEG-TS segments),
#                           and three aioquic client connections, one after the other:
#                             A  QUIC v1, TLS_AES_128_GCM_SHA256: the playlist, the three
#                                segments (a key update requested after the first one) and
#                                a missing path (404)
#                             B  QUIC v2 (RFC 9369), TLS_CHACHA20_POLY1305_SHA256: the
#                                playlist and the first segment
#                             C  QUIC v1, TLS_AES_256_GCM_SHA384: the playlist
#   quic-h3-keylog.keys     the clients' TLS secrets (aioquic `secrets_log_file`, SSLKEYLOGFILE)
#   quic-h3-keylog.log.json what the server answered and what each client received, per request
#
# Fixtures: tshark-fixture.py (flows, conversations) and quic-fixture.py (QUIC packets and the
# HTTP/3 tshark decodes, checked against the peers' log).
set -euo pipefail
shopt -s nullglob
umask 022

cd "$(dirname "$0")"

NAME=quic-h3-keylog
PORT=4433
WORK=$(mktemp -d)
chmod 0755 "$WORK"
PIDS=()

log() { printf '== %s\n' "$*" >&2; }

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# spawn CMD...: start CMD in the background bounded by `timeout`; its PID in LAST_PID.
spawn() {
    timeout 120 "$@" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# stop PID: end a process started by spawn and reap it.
stop() {
    local p keep=()
    kill -INT "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    for p in "${PIDS[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
}

# wait_for FILE PATTERN: up to 10 s for PATTERN to appear in FILE.
wait_for() {
    local i
    for i in $(seq 100); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "timed out waiting for '$2' in $1" >&2
    return 1
}

make_capture() {
    log "HLS content (ffmpeg)"
    mkdir -p "$WORK/www/hls"
    timeout 60 ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc=size=160x120:rate=10 \
        -f lavfi -i sine=frequency=440:sample_rate=44100 -t 3 -c:v libx264 -preset ultrafast -g 10 \
        -c:a aac -b:a 32k -f hls -hls_time 1 -hls_playlist_type vod \
        -hls_segment_filename "$WORK/www/hls/seg%d.ts" "$WORK/www/hls/index.m3u8"
    ls -l "$WORK/www/hls" >&2

    log "certificate"
    timeout 30 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=streamscope.test -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

    log "capture"
    spawn tcpdump -i lo -n -U -s 0 -w "$WORK/$NAME.pcap" "udp port $PORT" 2>"$WORK/tcpdump.err"
    local tcpdump=$LAST_PID
    wait_for "$WORK/tcpdump.err" "listening on"
    spawn python3 tools/h3-peers.py server --port "$PORT" --root "$WORK/www" --cert "$WORK/cert.pem" \
        --key "$WORK/key.pem" --log "$WORK/server.jsonl" >"$WORK/server.out" 2>&1
    local server=$LAST_PID
    wait_for "$WORK/server.out" "listening"

    local c=(timeout 60 python3 tools/h3-peers.py client --port "$PORT" --keylog "$WORK/$NAME.keys"
        --log "$WORK/client.jsonl")
    "${c[@]}" --label A --version 1 --cipher aes128 --key-update-after 2 \
        /hls/index.m3u8 /hls/seg0.ts /hls/seg1.ts /hls/seg2.ts /hls/missing.ts
    sleep 0.3
    "${c[@]}" --label B --version 2 --cipher chacha20 /hls/index.m3u8 /hls/seg0.ts
    sleep 0.3
    "${c[@]}" --label C --version 1 --cipher aes256 /hls/index.m3u8
    sleep 0.5
    stop "$server"
    stop "$tcpdump"
    grep -q "^0 packets dropped by kernel" "$WORK/tcpdump.err" || { cat "$WORK/tcpdump.err" >&2; return 1; }

    cp "$WORK/$NAME.pcap" "$WORK/$NAME.keys" .
    python3 - "$WORK/server.jsonl" "$WORK/client.jsonl" "$NAME.log.json" <<'EOF'
import json, sys
server = [json.loads(l) for l in open(sys.argv[1])]
client = [json.loads(l) for l in open(sys.argv[2])]
with open(sys.argv[3], "w") as f:
    json.dump({"server": server, "client": client}, f, indent=1, sort_keys=True)
    f.write("\n")
EOF
}

check() {
    local f=$NAME.pcap n
    log "checks: $f"
    timeout 60 capinfos -c -s "$f" >&2
    n=$(stat -c %s "$f")
    [ "$n" -le 2097152 ] || { echo "$f: $n bytes, over 2 MB" >&2; return 1; }
    # Three QUIC connections; with the key log tshark decrypts HTTP/3 on each.
    n=$(timeout 60 tshark -r "$f" -n -Y 'quic.long.packet_type == 0 || quic.long.packet_type_v2 == 1' \
        -T fields -e udp.srcport | sort -u | wc -l)
    [ "$n" -ge 4 ] || { echo "$f: Initials from $n ports, want the server and 3 clients" >&2; return 1; }
    n=$(timeout 60 tshark -r "$f" -n -o "tls.keylog_file:$NAME.keys" -Y 'http3.frame_type == 1' | wc -l)
    [ "$n" -ge 16 ] || { echo "$f: $n frames with HTTP/3 HEADERS, want >= 16" >&2; return 1; }
    n=$(timeout 60 tshark -r "$f" -n -o "tls.keylog_file:$NAME.keys" -q -z expert 2>/dev/null |
        grep -c -i 'decryption failed' || true)
    [ "$n" -eq 0 ] || { echo "$f: tshark reports $n decryption failures" >&2; return 1; }
    log "  $f ok"
}

for what in "${@:-capture}"; do
    case $what in
    capture) make_capture ;;
    fixtures) ;;
    *) echo "unknown step '$what' (known: capture, fixtures)" >&2; exit 2 ;;
    esac
done

check
log "fixtures"
mkdir -p fixtures
chmod 0644 "$NAME.pcap" "$NAME.keys" "$NAME.log.json"
timeout 600 python3 tshark-fixture.py "./$NAME.pcap"
timeout 600 python3 quic-fixture.py "./$NAME.pcap"
ls -l "$NAME.pcap" "$NAME.keys" "$NAME.log.json" fixtures/"$NAME".* >&2
