#!/usr/bin/env bash
# Make the latency-lab sample captures and their fixtures.
#
#   bash samples/make-lab-samples.sh              # both captures
#   bash samples/make-lab-samples.sh hlsdash      # lab-rtmp-hls-dash.pcap only
#   bash samples/make-lab-samples.sh relay        # lab-hls-relay-delay.pcap only
#   bash samples/make-lab-samples.sh fixtures     # only the fixtures of both
#
# lab-rtmp-hls-dash.pcap: ffmpeg publishes a live test source over RTMP to
# nginx-rtmp, which cuts it into HLS (MPEG-TS) and DASH (fMP4) fragments of
# 1 s served by nginx's HTTP server; ~3 s later an HLS player (ffmpeg) and a
# DASH player (GStreamer) start playing the live stream.  Ingest (RTMP) and
# delivery (HTTP) are in one capture.
#
# lab-hls-relay-delay.pcap: the same publish, with the HLS player going
# through tools/delay-relay.py, which holds every server-to-client chunk for
# exactly RELAY_DELAY_MS; both legs (player <-> relay, relay <-> nginx) are
# captured.  What the relay did is in lab-hls-relay-delay.relay.json.
#
# Needs root (network namespace, packet capture), tcpdump, tshark, ffmpeg
# (libx264 + aac), ffprobe, nginx with the RTMP module, GStreamer 1.22 with
# dashdemux (gst-plugins-bad; nothing is decoded), python3, iproute2.
# Everything runs inside a network namespace created (and deleted) by this
# script, on its loopback interface.  Every external command is bounded with
# `timeout`.
set -euo pipefail
shopt -s nullglob
umask 022

cd "$(dirname "$0")"

WORK=$(mktemp -d)
chmod 0755 "$WORK"   # nginx workers run as an unprivileged user
PIDS=()
NS=ssc-lab-$$
NETNS=()

STREAM=lab
RTMP_PORT=1935
HTTP_PORT=8092
RELAY_PORT=8093
RELAY_DELAY_MS=50
RELAY_TOLERANCE_MS=0.5
PUBLISH_S=10
PLAYER_START_S=3
MAX_BYTES=$((4 * 1024 * 1024))

# log, cleanup, spawn, stop, wait_for_text, capture_start/stop, wait_port, ns_up/down, ...
. ./lib.sh
trap cleanup EXIT







NGINX_MODULES=$(nginx -V 2>&1 | tr ' ' '\n' | sed -n 's/^--modules-path=//p')
[ -n "$NGINX_MODULES" ] || NGINX_MODULES=modules

# start_nginx NAME: nginx (foreground, own prefix) in the namespace: nginx-rtmp on
# RTMP_PORT writing HLS and DASH fragments into WWW/hls and WWW/dash, and an HTTP
# server on HTTP_PORT serving WWW.  NGINX_PID and WWW are set.
start_nginx() {
    local prefix="$WORK/nginx-$1"
    WWW="$WORK/www-$1"
    mkdir -p "$prefix/logs" "$prefix/tmp" "$WWW/hls" "$WWW/dash"
    chmod 0777 "$WWW/hls" "$WWW/dash"
    cat >"$prefix/nginx.conf" <<EOF
load_module $NGINX_MODULES/ngx_rtmp_module.so;
daemon off;
master_process on;
worker_processes 1;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log info;
events { worker_connections 64; }
rtmp {
    server {
        listen 127.0.0.1:$RTMP_PORT;
        application live {
            live on;
            hls on;
            hls_path $WWW/hls;
            hls_fragment 1s;
            hls_playlist_length 6s;
            dash on;
            dash_path $WWW/dash;
            dash_fragment 1s;
            dash_playlist_length 6s;
        }
    }
}
http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    types {
        application/vnd.apple.mpegurl m3u8;
        video/mp2t ts;
        application/dash+xml mpd;
        video/mp4 m4v mp4;
        audio/mp4 m4a;
    }
    server {
        listen 127.0.0.1:$HTTP_PORT;
        server_name localhost;
        root $WWW;
        add_header Cache-Control no-cache;
    }
}
EOF
    spawn ip netns exec "$NS" nginx -e "$prefix/logs/error.log" -p "$prefix" -c "$prefix/nginx.conf"
    NGINX_PID=$LAST_PID
    wait_port 127.0.0.1 "$RTMP_PORT"
    wait_port 127.0.0.1 "$HTTP_PORT"
}

# publish FLV-COPY: ffmpeg publishes PUBLISH_S seconds of a live test source (-re)
# to rtmp://127.0.0.1:RTMP_PORT/live/STREAM; the tee muxer writes the same FLV
# tags to FLV-COPY (to check the RTMP timestamps read from the capture; the tee
# muxer needs the encoders told to put SPS/PPS and the AAC config in global
# headers, as the flv muxer alone does, or the sequence headers are empty).
# PUB_PID is set.
publish() {
    spawn ip netns exec "$NS" ffmpeg -hide_banner -nostdin -loglevel error -y \
        -re -f lavfi -i "testsrc2=size=320x240:rate=15" -re -f lavfi -i "sine=frequency=440:sample_rate=44100" \
        -t "$PUBLISH_S" -map 0:v -map 1:a -flags +global_header \
        -c:v libx264 -preset ultrafast -tune zerolatency -g 15 -keyint_min 15 -sc_threshold 0 -bf 0 \
        -b:v 150k -pix_fmt yuv420p -c:a aac -b:a 48k -ar 44100 -ac 1 \
        -f tee "[f=flv]rtmp://127.0.0.1:$RTMP_PORT/live/$STREAM|[f=flv]$1"
    PUB_PID=$LAST_PID
}

# hls_player URL: ffmpeg's HLS demuxer plays the live playlist (keep-alive,
# reloads the playlist, fetches every new segment); HLS_PID is set.
hls_player() {
    spawn ip netns exec "$NS" ffmpeg -hide_banner -nostdin -loglevel error -i "$1" -c copy -f null - \
        >"$WORK/hls-player.log" 2>&1
    HLS_PID=$LAST_PID
}

# dash_player URL: GStreamer's dashdemux (v1: dashdemux2 stops fetching this
# live MPD) in uridecodebin plays the live MPD's video and audio into fakesinks
# (the caps stop uridecodebin at the parsed H.264 and AAC, so no decoder is
# needed).  A live videotestsrc branch makes the pipeline live, so gst-launch
# does not pause it for the demuxer's buffering messages (a live stream arrives
# in real time and never fills the buffer).  ffmpeg's DASH demuxer is not usable
# here: it asks for the next segment before nginx-rtmp has it and retries at
# once, without any delay, hundreds of requests a second.  DASH_PID is set.
dash_player() {
    spawn ip netns exec "$NS" env GST_PLUGIN_FEATURE_RANK=dashdemux2:NONE gst-launch-1.0 \
        uridecodebin uri="$1" caps="video/x-h264;audio/mpeg" name=d \
        d. ! queue ! fakesink sync=false d. ! queue ! fakesink sync=false \
        videotestsrc is-live=true pattern=black ! video/x-raw,width=16,height=16,framerate=1/1 ! fakesink \
        >"$WORK/dash-player.log" 2>&1
    DASH_PID=$LAST_PID
}

# after_publish PLAYER-PID...: wait for the publisher to finish, give the players
# 3 s to fetch the last fragments, then stop them.
after_publish() {
    wait "$PUB_PID" || { echo "publisher failed" >&2; return 1; }
    forget "$PUB_PID"
    sleep 3
    local p
    for p in "$@"; do
        kill -INT "$p" 2>/dev/null || true
    done
    for p in "$@"; do
        stop_ffmpeg "$p"
    done
}

# check_size FILE: captures stay small.
check_size() {
    local n
    n=$(stat -c %s "$1")
    [ "$n" -le "$MAX_BYTES" ] || { echo "$1 is $n bytes (> $MAX_BYTES)" >&2; return 1; }
}

# verify_capture FILE FLV: lab-fixture.py's checks: the RTMP video timestamps read
# from the capture equal the publisher's FLV (ffprobe), no TCP segment is missing.
verify_capture() {
    local n
    n=$(timeout 60 tshark -r "$1" -n -Y 'tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment' | wc -l)
    [ "$n" -eq 0 ] || { echo "$1: $n frames show TCP segments missing from the capture" >&2; return 1; }
    timeout 300 python3 lab-fixture.py --verify-flv "$2" "$1"
}

# ---------------------------------------------------------------------------
# lab-rtmp-hls-dash.pcap
make_hlsdash() {
    local name=lab-rtmp-hls-dash.pcap
    log "$name"
    ns_up "$NS"
    start_nginx hlsdash
    local out="$WORK/$name" flv="$WORK/hlsdash-published.flv"
    capture_ns hlsdash "$out" "tcp port $RTMP_PORT or tcp port $HTTP_PORT"
    publish "$flv"
    sleep "$PLAYER_START_S"
    hls_player "http://127.0.0.1:$HTTP_PORT/hls/$STREAM.m3u8"
    dash_player "http://127.0.0.1:$HTTP_PORT/dash/$STREAM.mpd"
    after_publish "$HLS_PID" "$DASH_PID"
    capture_stop
    stop "$NGINX_PID"
    ns_down
    check_size "$out"
    verify_capture "$out" "$flv"
    cp "$out" "$name"
}

# lab-hls-relay-delay.pcap (+ .relay.json): one attempt (run as its own process
# by make_relay, with its own namespace, scratch directory and clean-up); fails
# when the relay missed its delay by more than RELAY_TOLERANCE_MS for any chunk,
# or when in the capture a segment's first byte is not RELAY_DELAY_MS +-
# RELAY_TOLERANCE_MS later on the player leg than on the server leg.
relay_once() {
    local name=lab-hls-relay-delay.pcap
    local side=${name%.pcap}.relay.json
    ns_up "$NS"
    start_nginx relay
    local out="$WORK/$name" flv="$WORK/relay-published.flv" rlog="$WORK/relay-log.json"
    spawn ip netns exec "$NS" python3 tools/delay-relay.py --realtime --listen "$RELAY_PORT" --upstream "$HTTP_PORT" \
        --delay-ms "$RELAY_DELAY_MS" --tolerance-ms "$RELAY_TOLERANCE_MS" --seconds 100 \
        --log "$rlog" --ready "$WORK/relay.ready"
    local relay=$LAST_PID
    wait_for_text "$WORK/relay.ready" ready
    capture_ns relay "$out" "tcp port $RTMP_PORT or tcp port $HTTP_PORT or tcp port $RELAY_PORT"
    publish "$flv"
    sleep "$PLAYER_START_S"
    hls_player "http://127.0.0.1:$RELAY_PORT/hls/$STREAM.m3u8"
    after_publish "$HLS_PID"
    capture_stop
    local rc=0
    kill -TERM "$relay" 2>/dev/null || true
    wait "$relay" || rc=$?
    forget "$relay"
    stop "$NGINX_PID"
    ns_down
    [ "$rc" -eq 0 ] || { echo "delay-relay.py: a chunk missed its delay (exit $rc)" >&2; return 1; }
    check_size "$out"
    verify_capture "$out" "$flv"
    # the sidecar: what the relay was told and what it did
    python3 - "$rlog" "$WORK/$side" <<'PY'
import json, sys
log = json.load(open(sys.argv[1]))
keys = ["delay_ms", "tolerance_ms", "spin_ms", "sched_fifo", "connections", "chunks_forwarded",
        "max_abs_deviation_ms"]
head = {"delay_ms": log["delay_ms"], "relay_port": log["listen_port"], "upstream_port": log["upstream_port"]}
head.update((k, log[k]) for k in keys[1:])
lines = ["{"] + ["  %s: %s," % (json.dumps(k), json.dumps(v)) for k, v in head.items()]
lines.append('  "chunks": [')
lines.append(",\n".join("    " + json.dumps(c) for c in log["chunks"]))
lines += ["  ]", "}"]
with open(sys.argv[2], "w") as f:
    f.write("\n".join(lines) + "\n")
PY
    # the capture's own view (lab-fixture.py reads the sidecar next to the capture)
    FIXTURE_OUT="$WORK/fx" timeout 300 python3 lab-fixture.py "$out"
    python3 - "$WORK/fx/$name.lab.json" "$RELAY_DELAY_MS" "$RELAY_TOLERANCE_MS" <<'PY'
import json, sys
fx = json.load(open(sys.argv[1]))
d, tol = float(sys.argv[2]), float(sys.argv[3])
rows = fx["relay_check"]["segments"]
bad = [r for r in rows if r["delay_ms"] is None or abs(r["delay_ms"] - d) > tol]
if len(rows) < 5 or bad:
    sys.exit("relay check in the capture: %d segments, off by more than %s ms: %s" % (len(rows), tol, bad))
print("relay check in the capture: %d segments, %.3f..%.3f ms"
      % (len(rows), min(r["delay_ms"] for r in rows), max(r["delay_ms"] for r in rows)), file=sys.stderr)
PY
    cp "$out" "$name"
    cp "$WORK/$side" "$side"
}

make_relay() {
    log "lab-hls-relay-delay.pcap + lab-hls-relay-delay.relay.json"
    local i
    for i in 1 2 3; do
        if timeout 300 bash ./make-lab-samples.sh _relay_once; then return 0; fi
        log "  attempt $i failed"
    done
    echo "lab-hls-relay-delay.pcap: no good run in 3 attempts" >&2
    return 1
}

if [ "${1:-}" = _relay_once ]; then
    relay_once
    exit 0
fi

ALL=(hlsdash relay)
if [ $# -eq 0 ]; then set -- "${ALL[@]}"; fi
for what in "$@"; do
    case $what in
    hlsdash) make_hlsdash ;;
    relay) make_relay ;;
    fixtures) ;;   # only the fixtures (make-samples.sh deletes fixtures/ first)
    *) echo "unknown sample '$what' (known: ${ALL[*]} fixtures)" >&2; exit 2 ;;
    esac
done

log "fixtures"
mkdir -p fixtures
chmod 0644 ./lab-*.pcap ./lab-*.relay.json
timeout 600 python3 lab-fixture.py ./lab-*.pcap
timeout 600 python3 tshark-fixture.py ./lab-*.pcap
timeout 600 python3 rtmp-fixture.py ./lab-*.pcap
timeout 600 python3 http-fixture.py ./lab-*.pcap
timeout 600 python3 ts-fixture.py ./lab-*.pcap
ls -l ./lab-*.pcap ./lab-*.relay.json fixtures/lab-* >&2
