#!/usr/bin/env bash
# Make the live HLS sample captures and their fixtures.
#
#   bash samples/make-hls-live-samples.sh             # both captures, then fixtures
#   bash samples/make-hls-live-samples.sh live        # hls-live-pdt.pcap only
#   bash samples/make-hls-live-samples.sh llhls       # llhls-blocking.pcap only
#   bash samples/make-hls-live-samples.sh fixtures    # only the fixtures of both
#
# hls-live-pdt.pcap: ffmpeg live-encodes a test source (-re) into a live HLS
# with two renditions (master playlist by -var_stream_map; 1 s segments, a
# window of 6, EXT-X-PROGRAM-DATE-TIME, old segments deleted) served by nginx;
# two players: ffmpeg's HLS demuxer and hls.js (npm) in headless Chromium
# (Debian's chromium, driven by playwright-core from npm).
#
# llhls-blocking.pcap: an LL-HLS origin with blocking playlist reload
# (tools/llhls-origin.py, written for this: no LL-HLS origin could be installed
# from Debian, PyPI or npm) serves the fMP4 fragments ffmpeg live-encodes as
# parts; hls.js in lowLatencyMode plays it.
#
# Needs root (network namespace, packet capture), tcpdump, tshark, ffmpeg
# (libx264), ffprobe, nginx, chromium, node + npm (the npm registry, to install
# hls.js and playwright-core into the scratch directory), python3, iproute2.
# Everything runs inside a network namespace created (and deleted) by this
# script, on its loopback interface.  Every external command is bounded with
# `timeout`; only processes started here are stopped, by PID.
set -euo pipefail
shopt -s nullglob
umask 022

cd "$(dirname "$0")"

WORK=$(mktemp -d)
chmod 0755 "$WORK"   # nginx workers run as an unprivileged user
PIDS=()
NS=ssc-hlslive-$$
NETNS=()

HTTP_PORT=8096
LL_PORT=8097
HLSJS_VERSION=1.7.4
PLAYWRIGHT_VERSION=1.65.1
MAX_BYTES=$((4 * 1024 * 1024))

# log, cleanup, spawn, stop, wait_for_text, capture_start/stop, wait_port, ns_up/down, ...
. ./lib.sh
trap cleanup EXIT







# npm_player: hls.js and playwright-core from the npm registry into the scratch
# directory (outside the namespace, which has no network); NODE_MODULES is set.
npm_player() {
    [ -z "${NODE_MODULES:-}" ] || return 0
    timeout 300 npm install --prefix "$WORK/npm" --no-audit --no-fund --silent \
        "hls.js@$HLSJS_VERSION" "playwright-core@$PLAYWRIGHT_VERSION" >&2
    NODE_MODULES="$WORK/npm/node_modules"
}

# player_page DIR: hls.js and the player page into the web root DIR.
player_page() {
    cp tools/hlsjs-page.html "$1/player.html"
    cp "$NODE_MODULES/hls.js/dist/hls.min.js" "$1/hls.min.js"
}

# hlsjs_player NAME PAGE-URL SECONDS [AT-S LEVEL]...: hls.js in headless Chromium
# (fresh profile) in the namespace; its log goes to WORK/NAME.hlsjs.json; HLSJS_PID is set.
hlsjs_player() {
    local name=$1 url=$2 secs=$3
    shift 3
    mkdir -p "$WORK/$name-profile"
    spawn ip netns exec "$NS" env NODE_PATH="$NODE_MODULES" HOME="$WORK/$name-profile" \
        node tools/hlsjs-player.js "$url" "$secs" "$WORK/$name-profile" "$@" \
        >"$WORK/$name.hlsjs.json" 2>"$WORK/$name.hlsjs.log"
    HLSJS_PID=$LAST_PID
}

# check_capture FILE: small enough, and no TCP segment missing from it.
check_capture() {
    local n
    n=$(stat -c %s "$1")
    [ "$n" -le "$MAX_BYTES" ] || { echo "$1 is $n bytes (> $MAX_BYTES)" >&2; return 1; }
    n=$(timeout 60 tshark -r "$1" -n -Y 'tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment' | wc -l)
    [ "$n" -eq 0 ] || { echo "$1: $n frames show TCP segments missing from the capture" >&2; return 1; }
}

# ---------------------------------------------------------------------------
# hls-live-pdt.pcap (+ .hlsjs.json: what hls.js reported, wall-clock times)
make_live() {
    local name=hls-live-pdt.pcap
    log "$name"
    npm_player
    ns_up "$NS"
    local prefix="$WORK/nginx-live" www="$WORK/www-live"
    mkdir -p "$prefix/logs" "$prefix/tmp" "$www/hls"
    player_page "$www"
    cat >"$prefix/nginx.conf" <<NGINX
daemon off;
master_process on;
worker_processes 1;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log info;
events { worker_connections 64; }
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
        text/html html;
        application/javascript js;
    }
    server {
        listen 127.0.0.1:$HTTP_PORT;
        server_name localhost;
        root $www;
        location /hls/ { add_header Cache-Control no-cache; }
    }
}
NGINX
    spawn ip netns exec "$NS" nginx -e "$prefix/logs/error.log" -p "$prefix" -c "$prefix/nginx.conf"
    local nginx=$LAST_PID
    wait_port 127.0.0.1 "$HTTP_PORT"
    # The live encoder: one 25 fps test source scaled to two renditions, 1 s GOPs
    # (so every segment is 1 s), EXT-X-PROGRAM-DATE-TIME on every segment.
    spawn ip netns exec "$NS" ffmpeg -hide_banner -nostdin -loglevel error -y -re \
        -f lavfi -i "testsrc2=size=640x360:rate=25" -t 40 \
        -filter_complex "[0:v]split=2[a][b];[a]scale=320:180[lo];[b]null[hi]" \
        -map "[lo]" -map "[hi]" -c:v libx264 -preset ultrafast -tune zerolatency -pix_fmt yuv420p \
        -g 25 -keyint_min 25 -sc_threshold 0 -bf 0 -b:v:0 150k -b:v:1 400k \
        -f hls -hls_time 1 -hls_list_size 6 -hls_flags program_date_time+delete_segments \
        -var_stream_map "v:0,name:low v:1,name:high" -master_pl_name master.m3u8 \
        -hls_segment_filename "$www/hls/%v_%d.ts" "$www/hls/%v.m3u8" 2>"$WORK/live-encoder.log"
    local enc=$LAST_PID
    wait_for_text "$www/hls/high.m3u8" 'high_3\.ts' 150
    chmod -R a+rX "$www"
    local out="$WORK/$name" base="http://127.0.0.1:$HTTP_PORT"
    capture_ns live "$out" "tcp port $HTTP_PORT"
    spawn ip netns exec "$NS" ffmpeg -hide_banner -nostdin -loglevel error -i "$base/hls/master.m3u8" \
        -map 0:v:0 -c copy -f null - >"$WORK/live-ffmpeg-player.log" 2>&1
    local ffplayer=$LAST_PID
    # hls.js starts on the high rendition and stays there on loopback: ask for the
    # low one at 6 s and the high one again at 11 s (ABR switches both ways).
    hlsjs_player live "$base/player.html?src=/hls/master.m3u8" 16 6 0 11 1
    wait "$HLSJS_PID" || { echo "hls.js player failed:" >&2; cat "$WORK/live.hlsjs.log" >&2; return 1; }
    forget "$HLSJS_PID"
    stop_ffmpeg "$ffplayer"
    capture_stop
    stop "$enc"
    stop "$nginx"
    ns_down
    check_capture "$out"
    cp "$out" "$name"
    cp "$WORK/live.hlsjs.json" "${name%.pcap}.hlsjs.json"
}

# llhls-blocking.pcap (+ .origin.json: what the origin did; .hlsjs.json: what hls.js reported)
make_llhls() {
    local name=llhls-blocking.pcap
    log "$name"
    npm_player
    ns_up "$NS"
    local www="$WORK/www-llhls" out="$WORK/$name"
    mkdir -p "$www"
    player_page "$www"
    spawn ip netns exec "$NS" python3 tools/llhls-origin.py --port "$LL_PORT" --www "$www" \
        --log "$WORK/llhls-origin.json" --seconds 60 -- \
        ffmpeg -hide_banner -nostdin -loglevel error -re -f lavfi -i "testsrc2=size=320x180:rate=25" -t 60 \
        -c:v libx264 -preset ultrafast -tune zerolatency -pix_fmt yuv420p \
        -g 25 -keyint_min 25 -sc_threshold 0 -bf 0 -b:v 300k \
        -f mp4 -movflags empty_moov+default_base_moof+frag_keyframe -frag_duration 200000 -flush_packets 1 pipe:1 \
        >"$WORK/llhls-origin.log" 2>&1
    local origin=$LAST_PID
    wait_for_text "$WORK/llhls-origin.log" 'listening on'
    wait_port 127.0.0.1 "$LL_PORT"
    sleep 3
    capture_ns llhls "$out" "tcp port $LL_PORT"
    hlsjs_player llhls "http://127.0.0.1:$LL_PORT/player.html?src=/live.m3u8&ll=1" 12
    wait "$HLSJS_PID" || { echo "hls.js player failed:" >&2; cat "$WORK/llhls.hlsjs.log" >&2; return 1; }
    forget "$HLSJS_PID"
    capture_stop
    stop "$origin"
    ns_down
    check_capture "$out"
    cp "$out" "$name"
    cp "$WORK/llhls-origin.json" "${name%.pcap}.origin.json"
    cp "$WORK/llhls.hlsjs.json" "${name%.pcap}.hlsjs.json"
}

# fixtures: the flow, HTTP and media fixtures every sample has, and the live HLS
# ones (hls-live-fixture.py: .pdt.json, and .llhls.json for the LL-HLS capture).
make_fixtures() {
    log "fixtures"
    mkdir -p fixtures
    local caps=(./hls-live-pdt.pcap ./llhls-blocking.pcap)
    chmod 0644 "${caps[@]}"
    timeout 600 python3 tshark-fixture.py "${caps[@]}"
    timeout 600 python3 http-fixture.py "${caps[@]}"
    timeout 600 python3 ts-fixture.py "${caps[@]}"
    timeout 600 python3 hls-live-fixture.py "${caps[@]}"
}

ALL=(live llhls)
if [ $# -eq 0 ]; then set -- "${ALL[@]}" fixtures; fi
for what in "$@"; do
    case $what in
    live) make_live ;;
    llhls) make_llhls ;;
    fixtures) make_fixtures ;;
    *) echo "unknown sample '$what' (known: ${ALL[*]} fixtures)" >&2; exit 2 ;;
    esac
done
