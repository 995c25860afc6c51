#!/usr/bin/env bash
# Regenerate the streamscope sample captures and their tshark fixtures.
#
#   bash samples/make-samples.sh            # all captures
#   bash samples/make-samples.sh rtmp hls   # only some (see the case below)
#
# Needs root (packet capture, network namespaces), tshark/dumpcap/editcap/
# capinfos, tcpdump, ffmpeg (libx264 + aac, GnuTLS), nginx with the RTMP and
# stream (TLS) modules, openssl, curl, socat, python3, iproute2.  All
# generated traffic stays on loopback or inside network namespaces created
# (and deleted) by this script.  Every external command is bounded with
# `timeout`.
set -euo pipefail
shopt -s nullglob
umask 022

cd "$(dirname "$0")"

WORK=$(mktemp -d)
chmod 0755 "$WORK"   # nginx workers run as an unprivileged user
PIDS=()
NETNS=()

# log, cleanup, spawn, stop, wait_for_text, capture_start/stop, wait_port, ns_up/down, ...
. ./lib.sh
trap cleanup EXIT




FF=(timeout 30 ffmpeg -hide_banner -nostdin -loglevel error -y)
VSRC=(-f lavfi -i "testsrc=size=320x240:rate=15")
ASRC=(-f lavfi -i "sine=frequency=440:sample_rate=44100")
VENC=(-c:v libx264 -preset ultrafast -tune zerolatency -g 15 -b:v 150k -pix_fmt yuv420p)
AENC=(-c:a aac -b:a 48k -ar 44100 -ac 1)

NGINX_MODULES=$(nginx -V 2>&1 | tr ' ' '\n' | sed -n 's/^--modules-path=//p')
[ -n "$NGINX_MODULES" ] || NGINX_MODULES=modules

# start_nginx NAME BODY [HEAD]: run nginx (foreground, own prefix) with HEAD
# (e.g. load_module) and BODY in a minimal main config; NGINX_PID is set.
start_nginx() {
    local name=$1 body=$2 head=${3:-} prefix="$WORK/nginx-$1"
    mkdir -p "$prefix/logs" "$prefix/tmp"
    cat >"$prefix/nginx.conf" <<EOF
$head
daemon off;
master_process on;
worker_processes 1;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log info;
events { worker_connections 64; }
$body
EOF
    spawn nginx -e "$prefix/logs/error.log" -p "$prefix" -c "$prefix/nginx.conf"
    NGINX_PID=$LAST_PID
}

http_block() {
    # http_block ROOT LISTEN...; HTTP_SERVER_EXTRA (if set) adds server directives
    local root=$1; shift
    local l listens=""
    for l in "$@"; do listens+="        listen $l;"$'\n'; done
    local extra=""
    [ -z "${HTTP_SERVER_EXTRA:-}" ] || extra=$'\n'"        $HTTP_SERVER_EXTRA"
    cat <<EOF
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
        text/plain txt;
        application/dash+xml mpd;
        video/iso.segment m4s;
        video/mp4 mp4;
    }
    server {
$listens        server_name localhost;
        root $root;$extra
    }
}
EOF
}

rtmp_block() {
    # rtmp_block LISTEN [extra server directives]
    cat <<EOF
rtmp {
    server {
        listen $1;
        ${2:-}
        application live {
            live on;
        }
    }
}
EOF
}

# ---------------------------------------------------------------------------
# (a) rtmp-publish-play.pcapng: publish + play through nginx-rtmp, dumpcap lo
make_rtmp() {
    log "rtmp-publish-play.pcapng"
    start_nginx rtmp "$(rtmp_block 127.0.0.1:1935)" "load_module $NGINX_MODULES/ngx_rtmp_module.so;"
    wait_port 127.0.0.1 1935
    local out="$WORK/rtmp-publish-play.pcapng"
    capture_start rtmp timeout 60 dumpcap -i lo -B 64 -f "tcp port 1935" -a duration:40 -w "$out"
    "${FF[@]}" -re "${VSRC[@]}" -re "${ASRC[@]}" -t 4 "${VENC[@]}" "${AENC[@]}" \
        -f flv rtmp://127.0.0.1:1935/live/streamscope &
    local pub=$!
    PIDS+=("$pub")
    sleep 0.8
    "${FF[@]}" -rw_timeout 3000000 -i rtmp://127.0.0.1:1935/live/streamscope -t 2 -f null - ||
        log "player exited with status $?"
    wait "$pub"
    forget "$pub"
    capture_stop
    stop "$NGINX_PID"
    python3 tools/pcapng-scrub.py "$out"
    cp "$out" rtmp-publish-play.pcapng
}

# (b) rtmp-port19350-chunk8192.pcap: nginx-rtmp on 19350 with chunk_size 8192,
#     tcpdump with nanosecond timestamps
make_rtmp19350() {
    log "rtmp-port19350-chunk8192.pcap"
    start_nginx rtmp19350 "$(rtmp_block 127.0.0.1:19350 'chunk_size 8192;')" \
        "load_module $NGINX_MODULES/ngx_rtmp_module.so;"
    wait_port 127.0.0.1 19350
    local out="$WORK/rtmp-port19350-chunk8192.pcap"
    capture_start rtmp19350 timeout 60 tcpdump -Z root -U --immediate-mode -B 65536 -n -i lo --time-stamp-precision=nano \
        -w "$out" "tcp port 19350"
    "${FF[@]}" -re "${VSRC[@]}" -re "${ASRC[@]}" -t 2 "${VENC[@]}" "${AENC[@]}" \
        -f flv rtmp://127.0.0.1:19350/live/chunky
    capture_stop
    stop "$NGINX_PID"
    cp "$out" rtmp-port19350-chunk8192.pcap
}

# (c) hls-http-sll2.pcap: VOD HLS served by nginx over IPv4 and IPv6,
#     tcpdump -i any with LINUX_SLL2
make_hls() {
    log "hls-http-sll2.pcap"
    local www="$WORK/hls-www"
    mkdir -p "$www"
    (cd "$www" && "${FF[@]}" "${VSRC[@]}" "${ASRC[@]}" -t 3 "${VENC[@]}" "${AENC[@]}" \
        -f hls -hls_time 1 -hls_playlist_type vod -hls_segment_filename 'x%d.ts' x.m3u8)
    chmod -R a+rX "$www"
    start_nginx hls "$(http_block "$www" 127.0.0.1:8088 '[::1]:8088')"
    wait_port 127.0.0.1 8088
    wait_port ::1 8088
    local out="$WORK/hls-http-sll2.pcap"
    capture_start hls timeout 60 tcpdump -Z root -U --immediate-mode -B 65536 -n -i any -y LINUX_SLL2 -w "$out" "tcp port 8088"
    local C=(timeout 20 curl -sS --fail)
    "${C[@]}" -o "$WORK/x.m3u8" http://127.0.0.1:8088/x.m3u8
    local urls=() seg
    for seg in $(grep -v '^#' "$WORK/x.m3u8"); do
        urls+=(-o /dev/null "http://127.0.0.1:8088/$seg")
    done
    "${C[@]}" "${urls[@]}"
    "${C[@]}" -g -o /dev/null 'http://[::1]:8088/x.m3u8'
    "${FF[@]}" -i http://127.0.0.1:8088/x.m3u8 -c copy -f null -
    capture_stop
    stop "$NGINX_PID"
    cp "$out" hls-http-sll2.pcap
}

# (d) rtp-udp-random-port.pcap: ffmpeg RTP/RTCP (G.711 audio + H.264 video)
make_rtp() {
    log "rtp-udp-random-port.pcap"
    local p
    for p in 41234 41235 42346 42347; do
        spawn socat -u "UDP4-RECV:$p,bind=127.0.0.1" /dev/null
    done
    sleep 0.3
    local out="$WORK/rtp-udp-random-port.pcap"
    capture_start rtp timeout 60 tcpdump -Z root -U --immediate-mode -B 65536 -n -i lo -w "$out" \
        "(udp and (port 41234 or port 41235 or port 42346 or port 42347)) or icmp"
    "${FF[@]}" -re -f lavfi -i "sine=frequency=440:sample_rate=8000" -t 3 \
        -c:a pcm_mulaw -ar 8000 -ac 1 -f rtp "rtp://127.0.0.1:41234?pkt_size=172" >/dev/null &
    local a=$!
    PIDS+=("$a")
    "${FF[@]}" -re -f lavfi -i "testsrc=size=160x120:rate=10" -t 3 \
        -c:v libx264 -preset ultrafast -tune zerolatency -g 10 -b:v 100k -pix_fmt yuv420p \
        -f rtp "rtp://127.0.0.1:42346?pkt_size=1200" >/dev/null
    wait "$a"
    forget "$a"
    capture_stop
    stop_bg
    cp "$out" rtp-udp-random-port.pcap
}

# helper: create two namespaces joined by a veth pair
# make_ns_pair NSA NSB IFA IFB
make_ns_pair() {
    local ns
    for ns in "$1" "$2"; do
        ip netns del "$ns" 2>/dev/null || true
        ip netns add "$ns"
        NETNS+=("$ns")
        ip -n "$ns" link set lo up
    done
    ip -n "$1" link add "$3" type veth peer name "$4" netns "$2"
}

del_ns_pair() {
    ip netns del "$1"
    ip netns del "$2"
}

# (e) udp-ip-fragments.pcap: fragmented IPv4/IPv6 UDP + short TCP between netns
make_frag() {
    log "udp-ip-fragments.pcap"
    local A=ssc-frag-a B=ssc-frag-b
    make_ns_pair $A $B va vb
    ip -n $A addr add 10.200.0.1/24 dev va
    ip -n $B addr add 10.200.0.2/24 dev vb
    ip -n $A addr add fd00::1/64 dev va nodad
    ip -n $B addr add fd00::2/64 dev vb nodad
    ip -n $A link set va up
    ip -n $B link set vb up
    local www="$WORK/frag-www"
    mkdir -p "$www"
    python3 -c 'import sys; sys.stdout.write("".join("streamscope sample line %04d\n" % i for i in range(200)))' \
        >"$www/hello.txt"
    spawn ip netns exec $B socat -u UDP4-RECV:5005 /dev/null
    spawn ip netns exec $B socat -u UDP6-RECV:5006 /dev/null
    spawn ip netns exec $B python3 -m http.server --bind :: --directory "$www" 8000 >/dev/null 2>&1
    local i
    for i in $(seq 100); do
        ip netns exec $A timeout 1 bash -c 'exec 3<>/dev/tcp/10.200.0.2/8000' 2>/dev/null && break
        sleep 0.1
    done
    sleep 0.3
    local out="$WORK/udp-ip-fragments.pcap"
    capture_start frag ip netns exec $B timeout 60 tcpdump -Z root -U --immediate-mode -B 65536 -n -i vb -w "$out"
    ip netns exec $A timeout 20 python3 - <<'EOF'
import socket, time
pat = b"streamscope-fragment-test-"
def payload(n):
    return (pat * (n // len(pat) + 1))[:n]
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in (3000, 3500, 4000, 200):
    s4.sendto(payload(n), ("10.200.0.2", 5005))
    time.sleep(0.05)
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for n in (3000, 3800, 200):
    s6.sendto(payload(n), ("fd00::2", 5006))
    time.sleep(0.05)
EOF
    ip netns exec $A timeout 20 curl -sS --fail -o /dev/null http://10.200.0.2:8000/hello.txt
    ip netns exec $A timeout 20 curl -sS --fail -g -o /dev/null 'http://[fd00::2]:8000/hello.txt'
    capture_stop
    stop_bg
    del_ns_pair $A $B
    cp "$out" udp-ip-fragments.pcap
}

# (f) vlan-qinq.pcap: 802.1Q (100) and QinQ (802.1ad 200 / 802.1Q 300) on a veth
make_vlan() {
    log "vlan-qinq.pcap"
    local A=ssc-vlan-a B=ssc-vlan-b ns
    make_ns_pair $A $B va vb
    for ns in $A $B; do
        ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip -n $ns tuntap add dev t100 mode tap
        ip -n $ns tuntap add dev tq mode tap
        ip netns exec $ns sysctl -qw net.ipv6.conf.t100.disable_ipv6=0
    done
    # the trunk carries up to 8 bytes of tags on top of 1500-byte IP packets
    ip -n $A link set va mtu 1600 up
    ip -n $B link set vb mtu 1600 up
    spawn ip netns exec $A python3 tools/vlan-tap-bridge.py --trunk va --seconds 60 \
        --ready "$WORK/vlan-a.ready" t100=8100.100 tq=88a8.200,8100.300
    spawn ip netns exec $B python3 tools/vlan-tap-bridge.py --trunk vb --seconds 60 \
        --ready "$WORK/vlan-b.ready" t100=8100.100 tq=88a8.200,8100.300
    wait_for_text "$WORK/vlan-a.ready" ready
    wait_for_text "$WORK/vlan-b.ready" ready
    ip -n $A addr add 10.100.0.1/24 dev t100
    ip -n $B addr add 10.100.0.2/24 dev t100
    ip -n $A addr add fd00:100::1/64 dev t100 nodad
    ip -n $B addr add fd00:100::2/64 dev t100 nodad
    ip -n $A addr add 10.230.0.1/24 dev tq
    ip -n $B addr add 10.230.0.2/24 dev tq
    for ns in $A $B; do
        ip -n $ns link set t100 up
        ip -n $ns link set tq up
    done
    local www="$WORK/vlan-www"
    mkdir -p "$www"
    python3 -c 'import sys; sys.stdout.write("".join("vlan sample line %04d\n" % i for i in range(300)))' \
        >"$www/hello.txt"
    spawn ip netns exec $B socat -u UDP4-RECV:5005 /dev/null
    spawn ip netns exec $B socat -u UDP6-RECV:5006 /dev/null
    spawn ip netns exec $B python3 -m http.server --bind 0.0.0.0 --directory "$www" 8000 >/dev/null 2>&1
    local i
    for i in $(seq 100); do
        ip netns exec $B timeout 1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/8000' 2>/dev/null && break
        sleep 0.1
    done
    local out="$WORK/vlan-qinq.pcap"
    capture_start vlan ip netns exec $A timeout 60 tcpdump -Z root -U --immediate-mode -B 65536 -n -i va -w "$out"
    ip netns exec $A timeout 20 python3 - <<'EOF'
import socket, time
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for i in range(3):
    s4.sendto(b"vlan100 udp %d" % i, ("10.100.0.2", 5005))
    s4.sendto(b"qinq200/300 udp %d" % i, ("10.230.0.2", 5005))
    s6.sendto(b"vlan100 udp6 %d" % i, ("fd00:100::2", 5006))
    time.sleep(0.1)
EOF
    ip netns exec $A timeout 20 curl -sS --fail -o /dev/null http://10.100.0.2:8000/hello.txt
    ip netns exec $A timeout 20 curl -sS --fail -o /dev/null http://10.230.0.2:8000/hello.txt
    capture_stop
    stop_bg
    del_ns_pair $A $B
    cp "$out" vlan-qinq.pcap
}

# (g) mixed-interfaces.pcapng: dumpcap on lo and any at once
make_mixed() {
    log "mixed-interfaces.pcapng"
    local www="$WORK/mixed-www"
    mkdir -p "$www"
    printf 'streamscope mixed-interface sample\n' >"$www/index.txt"
    chmod -R a+rX "$www"
    start_nginx mixed "$(http_block "$www" 127.0.0.1:8089)"
    wait_port 127.0.0.1 8089
    local out="$WORK/mixed-interfaces.pcapng"
    capture_start mixed timeout 60 dumpcap -i lo -B 64 -f "tcp port 8089" -i any -B 64 -f "tcp port 8089" \
        -a duration:40 -w "$out"
    local i
    for i in 1 2 3; do
        timeout 20 curl -sS --fail -o /dev/null http://127.0.0.1:8089/index.txt
        sleep 0.2
    done
    capture_stop
    stop "$NGINX_PID"
    python3 tools/pcapng-scrub.py "$out"
    cp "$out" mixed-interfaces.pcapng
}

# (h) tcp-midstream.pcap: (a) with its beginning cut off
make_midstream() {
    log "tcp-midstream.pcap"
    # Cut point: halfway between the first RTMP audio/video message of the
    # publishing connection and the SYN of the playing connection.  The publish
    # connection then starts mid-stream (no SYN, no handshake, no connect),
    # while the play connection is still complete.
    local media syn2
    media=$(timeout 60 tshark -r rtmp-publish-play.pcapng -n -Y 'rtmpt.header.typeid == 8 || rtmpt.header.typeid == 9' \
        -T fields -e frame.number | awk 'NR == 1')
    syn2=$(timeout 60 tshark -r rtmp-publish-play.pcapng -n -Y 'tcp.flags.syn == 1 && tcp.flags.ack == 0' \
        -T fields -e frame.number | awk 'NR == 2')
    if [ -z "$media" ] || [ -z "$syn2" ] || [ $((syn2 - media)) -lt 4 ]; then
        echo "cannot find a cut point in rtmp-publish-play.pcapng (media=$media syn2=$syn2)" >&2
        return 1
    fi
    local cut=$(((media + syn2) / 2))
    log "  dropping frames 1-$((cut - 1)) of rtmp-publish-play.pcapng"
    timeout 60 editcap -F pcap rtmp-publish-play.pcapng tcp-midstream.pcap "1-$((cut - 1))"
}

# self_signed_cert DIR: DIR/cert.pem + DIR/key.pem, self-signed RSA-2048 for
# CN=streamscope.test (throwaway test key, readable by the nginx worker).
self_signed_cert() {
    timeout 30 openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj /CN=streamscope.test \
        -keyout "$1/key.pem" -out "$1/cert.pem" 2>/dev/null
    chmod 0644 "$1/key.pem"
}

# (i) rtmps-publish-keylog.pcapng / rtmps12-publish-keylog.pcapng: ffmpeg
#     publishes over RTMPS (GnuTLS) with SSLKEYLOGFILE set; nginx's stream
#     module terminates TLS on 127.0.0.1:1936 and proxies the plain RTMP to
#     nginx-rtmp on 127.0.0.1:1935.  Only the TLS leg (port 1936) is captured.
#     make_rtmps NAME TLS-DIRECTIVES
make_rtmps() {
    local name=$1 tls=$2
    log "$name.pcapng + $name.keys"
    local tdir="$WORK/tls-$name"
    mkdir -p "$tdir"
    self_signed_cert "$tdir"
    local stream
    stream=$(cat <<EOF
stream {
    server {
        listen 127.0.0.1:1936 ssl;
        proxy_pass 127.0.0.1:1935;
        ssl_certificate $tdir/cert.pem;
        ssl_certificate_key $tdir/key.pem;
        $tls
    }
}
EOF
)
    start_nginx "$name" "$(rtmp_block 127.0.0.1:1935)"$'\n'"$stream" \
        "load_module $NGINX_MODULES/ngx_stream_module.so;"$'\n'"load_module $NGINX_MODULES/ngx_rtmp_module.so;"
    wait_port 127.0.0.1 1935
    wait_port 127.0.0.1 1936
    local out="$WORK/$name.pcapng" keys="$WORK/$name.keys"
    capture_start "$name" timeout 60 dumpcap -i lo -B 64 -f "tcp port 1936" -a duration:40 -w "$out"
    SSLKEYLOGFILE="$keys" "${FF[@]}" -re -f lavfi -i "testsrc=size=320x240:rate=10" -re "${ASRC[@]}" -t 2 \
        -c:v libx264 -preset ultrafast -tune zerolatency -g 10 -b:v 150k -pix_fmt yuv420p "${AENC[@]}" \
        -f flv rtmps://127.0.0.1:1936/live/secretkey
    capture_stop
    stop "$NGINX_PID"
    [ -s "$keys" ] || { echo "ffmpeg wrote no TLS key log ($keys)" >&2; return 1; }
    python3 tools/pcapng-scrub.py "$out"
    cp "$out" "$name.pcapng"
    cp "$keys" "$name.keys"
}

# ---------------------------------------------------------------------------
# RTSP / RTP / SIP captures (fixtures: rtp-fixture.py)
#
# The RTSP server is GStreamer's gst-rtsp-server driven by tools/rtsp-server.py
# through python3-gi; GI_PYTHON names a python3 that has the Debian gi module
# (a pyenv/venv python3 earlier in PATH usually does not).
GI_PYTHON=${GI_PYTHON:-/usr/bin/python3}
RTSP_URL=rtsp://127.0.0.1:8554

# start_rtsp_server NAME: tools/rtsp-server.py on 127.0.0.1:8554 (server RTP/RTCP
# UDP ports 42000-42011); RTSP_PID is set.
start_rtsp_server() {
    spawn "$GI_PYTHON" tools/rtsp-server.py --port 8554 --udp-ports 42000-42011 --seconds 100 \
        --ready "$WORK/$1.rtsp.ready" 2>"$WORK/$1.rtsp.log"
    RTSP_PID=$LAST_PID
    wait_for_text "$WORK/$1.rtsp.ready" ready
    wait_port 127.0.0.1 8554
}

# (j) rtsp-play-udp.pcapng: ffmpeg plays rtsp://127.0.0.1:8554/test (H.264 pt 96
#     + Opus pt 97) with RTP/RTCP over UDP (client ports 41000-41010, server
#     ports 42000-42011): OPTIONS, DESCRIBE, SETUP x2, PLAY, 3 s media, TEARDOWN.
make_rtsp_udp() {
    log "rtsp-play-udp.pcapng"
    start_rtsp_server rtsp-udp
    local out="$WORK/rtsp-play-udp.pcapng"
    capture_start rtsp-udp timeout 60 dumpcap -i lo -B 64 -f "tcp port 8554 or udp portrange 41000-42011" \
        -a duration:40 -w "$out"
    "${FF[@]}" -rtsp_transport udp -min_port 41000 -max_port 41010 -i "$RTSP_URL/test" -t 3 -f null -
    capture_stop
    stop "$RTSP_PID"
    python3 tools/pcapng-scrub.py "$out"
    cp "$out" rtsp-play-udp.pcapng
}

# (k) rtsp-play-tcp-interleaved.pcapng: the same server played twice over
#     RTSP/TCP with $-interleaved RTP/RTCP: first ffmpeg (-rtsp_transport tcp,
#     3 s), then GStreamer's rtspsrc (protocols=tcp, stopped with SIGINT after
#     ~3 s; -e turns that into EOS so rtspsrc sends TEARDOWN).
make_rtsp_tcp() {
    log "rtsp-play-tcp-interleaved.pcapng"
    start_rtsp_server rtsp-tcp
    local out="$WORK/rtsp-play-tcp-interleaved.pcapng"
    capture_start rtsp-tcp timeout 60 dumpcap -i lo -B 64 -f "tcp port 8554" -a duration:40 -w "$out"
    "${FF[@]}" -rtsp_transport tcp -i "$RTSP_URL/test" -t 3 -f null -
    sleep 0.3
    local rc=0
    timeout -k 5 -s INT 3.5 gst-launch-1.0 -e -q rtspsrc location="$RTSP_URL/test" protocols=tcp name=src \
        src. ! queue ! fakesink src. ! queue ! fakesink >"$WORK/rtsp-tcp.gst.log" 2>&1 || rc=$?
    # 124: stopped by the timeout's SIGINT, as intended
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then
        echo "gst-launch-1.0 rtspsrc failed ($rc):" >&2
        cat "$WORK/rtsp-tcp.gst.log" >&2
        return 1
    fi
    capture_stop
    stop "$RTSP_PID"
    python3 tools/pcapng-scrub.py "$out"
    cp "$out" rtsp-play-tcp-interleaved.pcapng
}

# (l) rtsp-record.pcapng: ffmpeg pushes 3 s (H.264 160x120@10 + G.711 A-law
#     20 ms frames) with ANNOUNCE/SETUP/RECORD over RTSP/TCP (interleaved) to
#     rtsp://127.0.0.1:8554/rec, a RECORD-mode gst-rtsp-server mount.
make_rtsp_record() {
    log "rtsp-record.pcapng"
    start_rtsp_server rtsp-rec
    local out="$WORK/rtsp-record.pcapng"
    capture_start rtsp-rec timeout 60 dumpcap -i lo -B 64 -f "tcp port 8554" -a duration:40 -w "$out"
    "${FF[@]}" -re -f lavfi -i "testsrc=size=160x120:rate=10" \
        -re -f lavfi -i "sine=frequency=440:sample_rate=8000:samples_per_frame=160" -t 3 \
        -c:v libx264 -preset ultrafast -tune zerolatency -g 10 -b:v 100k -pix_fmt yuv420p \
        -c:a pcm_alaw -ar 8000 -ac 1 -f rtsp -rtsp_transport tcp "$RTSP_URL/rec"
    capture_stop
    stop "$RTSP_PID"
    python3 tools/pcapng-scrub.py "$out"
    cp "$out" rtsp-record.pcapng
}

# (m) rtp-loss-jitter.pcap: ffmpeg -re sends 5 s of PCMU (8 kHz, 20 ms = 160
#     samples per packet, SSRC 0x5353c0de, first seq 65400 so the sequence
#     number wraps) to 127.0.0.1:40000 (RTCP 40001); tools/rtp-relay.py forwards
#     from 40200/40201 to socat sinks on 40100/40101, dropping, delaying and
#     duplicating the RTP sequence numbers below.  Both legs are captured; what
#     the relay did is written to rtp-loss-jitter.relay.json.
RELAY_DROP=65410,65535,0,50,51,52
RELAY_DELAY=65450=60,5=30,80=100
RELAY_DUP=100
make_rtp_loss() {
    log "rtp-loss-jitter.pcap + rtp-loss-jitter.relay.json"
    local out="$WORK/rtp-loss-jitter.pcap" rlog="$WORK/rtp-loss-jitter.relay.json"
    spawn socat -u UDP4-RECV:40100,bind=127.0.0.1 /dev/null
    spawn socat -u UDP4-RECV:40101,bind=127.0.0.1 /dev/null
    capture_start rtploss timeout 60 tcpdump -Z root -U --immediate-mode -B 65536 -n -i lo \
        -w "$out" 'udp portrange 40000-40201'
    spawn python3 tools/rtp-relay.py --listen 40000 --to 40100 --src 40200 \
        --drop "$RELAY_DROP" --delay "$RELAY_DELAY" --dup "$RELAY_DUP" \
        --seconds 40 --idle 1.5 --log "$rlog" --ready "$WORK/relay.ready"
    local relay=$LAST_PID
    wait_for_text "$WORK/relay.ready" ready
    "${FF[@]}" -re -f lavfi -i "sine=frequency=440:sample_rate=8000:samples_per_frame=160" -t 5 \
        -c:a pcm_mulaw -ar 8000 -ac 1 -f rtp -ssrc 0x5353c0de -seq 65400 -payload_type 0 \
        -rtpflags send_bye "rtp://127.0.0.1:40000?pkt_size=172&localrtpport=40010&localrtcpport=40011" >/dev/null
    # the relay exits by itself 1.5 s after the last packet, after writing its log
    wait "$relay" || { echo "rtp-relay.py failed" >&2; return 1; }
    forget "$relay"
    capture_stop
    stop_bg
    cp "$out" rtp-loss-jitter.pcap
    cp "$rlog" rtp-loss-jitter.relay.json
}

# (n) sip-call.pcap: a SIP call between two SIPp instances on loopback
#     (tools/sip-uas.xml on 127.0.0.1:5070, tools/sip-uac.xml on :5060):
#     INVITE/100/180/200/ACK, ~3 s of G.711 A-law RTP each way (SIPp
#     rtp_stream, media ports 31000 and 32000), BYE/200.
make_sip() {
    log "sip-call.pcap"
    local sdir="$WORK/sip" out="$WORK/sip-call.pcap"
    mkdir -p "$sdir"
    cp tools/sip-uac.xml tools/sip-uas.xml "$sdir/"
    "${FF[@]}" -f lavfi -i "sine=frequency=440:sample_rate=8000" -t 3 -f alaw -ar 8000 -ac 1 "$sdir/uac.alaw"
    "${FF[@]}" -f lavfi -i "sine=frequency=660:sample_rate=8000" -t 3 -f alaw -ar 8000 -ac 1 "$sdir/uas.alaw"
    capture_start sip timeout 60 tcpdump -Z root -U --immediate-mode -B 65536 -n -i lo -w "$out" \
        'udp port 5060 or udp port 5070 or udp portrange 31000-31003 or udp portrange 32000-32003'
    (cd "$sdir" && exec timeout 30 sipp -sf sip-uas.xml -i 127.0.0.1 -p 5070 -mi 127.0.0.1 -mp 31000 \
        -m 1 -nostdin -trace_err >uas.out 2>&1) &
    local uas=$!
    PIDS+=("$uas")
    sleep 0.5
    (cd "$sdir" && timeout 30 sipp -sf sip-uac.xml -i 127.0.0.1 -p 5060 -mi 127.0.0.1 -mp 32000 \
        -m 1 -nostdin -trace_err -s streamscope 127.0.0.1:5070 >uac.out 2>&1) ||
        { echo "sipp UAC failed" >&2; tail -20 "$sdir/uac.out" >&2; return 1; }
    wait "$uas" || { echo "sipp UAS failed" >&2; tail -20 "$sdir/uas.out" >&2; return 1; }
    forget "$uas"
    capture_stop
    cp "$out" sip-call.pcap
}

# ---------------------------------------------------------------------------
# HTTP adaptive streaming with fragmented MP4 (fixtures: http-fixture.py)

# (o) dash-vod.pcap: ffmpeg writes a VOD MPEG-DASH presentation (manifest.mpd
#     with SegmentTemplate + SegmentTimeline, init-stream0/1.m4s,
#     chunk-stream0/1-0000N.m4s; 1 s segments) served by nginx on
#     127.0.0.1:8090; ffmpeg's dash demuxer reads it all (-c copy -f null -).
#     ffmpeg sends `Range: bytes=0-` on every request; `max_ranges 0` makes
#     nginx ignore it, so every answer is a plain 200 (hls-fmp4.pcap and
#     hls-http-sll2.pcap have the 206 answers).
make_dash() {
    log "dash-vod.pcap"
    local www="$WORK/dash-www"
    mkdir -p "$www"
    (cd "$www" && "${FF[@]}" -f lavfi -i "testsrc=size=320x240:rate=10" "${ASRC[@]}" -t 3 \
        -c:v libx264 -preset ultrafast -tune zerolatency -g 10 -b:v 150k -pix_fmt yuv420p "${AENC[@]}" \
        -f dash -seg_duration 1 -use_template 1 -use_timeline 1 manifest.mpd)
    chmod -R a+rX "$www"
    start_nginx dash "$(HTTP_SERVER_EXTRA='max_ranges 0;' http_block "$www" 127.0.0.1:8090)"
    wait_port 127.0.0.1 8090
    local out="$WORK/dash-vod.pcap"
    capture_start dash timeout 60 tcpdump -Z root -U --immediate-mode -B 65536 -n -i lo -w "$out" "tcp port 8090"
    "${FF[@]}" -i http://127.0.0.1:8090/manifest.mpd -c copy -f null -
    capture_stop
    stop "$NGINX_PID"
    cp "$out" dash-vod.pcap
}

# (p) hls-fmp4.pcap: ffmpeg writes a VOD HLS with fragmented-MP4 segments
#     (f.m3u8, EXT-X-MAP init.mp4, f0.m4s..) served by nginx on 127.0.0.1:8091;
#     curl fetches the playlist, then init.mp4 and every segment on one
#     keep-alive connection; then ffmpeg's hls demuxer reads it all.
make_hlsfmp4() {
    log "hls-fmp4.pcap"
    local www="$WORK/hlsfmp4-www"
    mkdir -p "$www"
    (cd "$www" && "${FF[@]}" -f lavfi -i "testsrc=size=320x240:rate=10" "${ASRC[@]}" -t 3 \
        -c:v libx264 -preset ultrafast -tune zerolatency -g 10 -b:v 150k -pix_fmt yuv420p "${AENC[@]}" \
        -f hls -hls_segment_type fmp4 -hls_time 1 -hls_playlist_type vod \
        -hls_fmp4_init_filename init.mp4 -hls_segment_filename 'f%d.m4s' f.m3u8)
    chmod -R a+rX "$www"
    start_nginx hlsfmp4 "$(http_block "$www" 127.0.0.1:8091)"
    wait_port 127.0.0.1 8091
    local out="$WORK/hls-fmp4.pcap"
    capture_start hlsfmp4 timeout 60 tcpdump -Z root -U --immediate-mode -B 65536 -n -i lo -w "$out" "tcp port 8091"
    local C=(timeout 20 curl -sS --fail) base=http://127.0.0.1:8091
    # one curl, one connection: the playlist first, then the init section and the segments
    local urls=(-o /dev/null "$base/f.m3u8") line
    while read -r line; do
        case $line in
        '#EXT-X-MAP:'*)
            line=${line#*URI=\"}
            urls+=(-o /dev/null "$base/${line%%\"*}") ;;
        '#'*|'') ;;
        *) urls+=(-o /dev/null "$base/$line") ;;
        esac
    done <"$www/f.m3u8"
    "${C[@]}" "${urls[@]}"
    "${FF[@]}" -i "$base/f.m3u8" -c copy -f null -
    capture_stop
    stop "$NGINX_PID"
    cp "$out" hls-fmp4.pcap
}

# (q) hls-https-keylog.pcap + hls-https-keylog.keys: the VOD HLS of (c) served
#     by nginx over HTTPS on 127.0.0.1:8444 (self-signed certificate for
#     CN=streamscope.test; `ssl_protocols TLSv1.2 TLSv1.3;`, since nginx 1.22
#     leaves TLS 1.3 off by default); one curl (OpenSSL, SSLKEYLOGFILE set,
#     SNI streamscope.test via --resolve, ALPN http/1.1 only) fetches the
#     playlist, then every segment on one keep-alive connection.
# hls-gzip-chunked.pcap: nginx compresses the playlists on the fly (gzip, so the length is
# unknown and HTTP/1.1 sends them chunked); curl asks for compression (--compressed) and
# fetches the playlist and its segments on one keep-alive connection, then ffmpeg plays it.
make_gzip() {
    log "hls-gzip-chunked.pcap"
    local www="$WORK/gzip-www"
    mkdir -p "$www"
    (cd "$www" && "${FF[@]}" "${VSRC[@]}" "${ASRC[@]}" -t 3 "${VENC[@]}" "${AENC[@]}" \
        -f hls -hls_time 1 -hls_playlist_type vod -hls_segment_filename 'g%d.ts' g.m3u8)
    chmod -R a+rX "$www"
    start_nginx gzip "$(HTTP_SERVER_EXTRA="gzip on; gzip_min_length 0; gzip_types application/vnd.apple.mpegurl;" \
        http_block "$www" 127.0.0.1:8096)"
    wait_port 127.0.0.1 8096
    local out="$WORK/hls-gzip-chunked.pcap" seg urls=()
    capture_start gzip timeout 60 tcpdump -Z root -U --immediate-mode -B 65536 -n -i lo -w "$out" "tcp port 8096"
    timeout 20 curl -sS --fail --compressed -o "$WORK/g.m3u8" http://127.0.0.1:8096/g.m3u8
    for seg in $(grep -v '^#' "$WORK/g.m3u8"); do
        urls+=(-o /dev/null "http://127.0.0.1:8096/$seg")
    done
    timeout 20 curl -sS --fail --compressed -o /dev/null http://127.0.0.1:8096/g.m3u8 "${urls[@]}"
    "${FF[@]}" -i http://127.0.0.1:8096/g.m3u8 -c copy -f null -
    capture_stop
    stop "$NGINX_PID"
    cp "$out" hls-gzip-chunked.pcap
}

make_https() {
    local name=hls-https-keylog
    log "$name.pcap + $name.keys"
    local www="$WORK/https-www" tdir="$WORK/tls-https"
    mkdir -p "$www" "$tdir"
    (cd "$www" && "${FF[@]}" "${VSRC[@]}" "${ASRC[@]}" -t 3 "${VENC[@]}" "${AENC[@]}" \
        -f hls -hls_time 1 -hls_playlist_type vod -hls_segment_filename 'x%d.ts' x.m3u8)
    chmod -R a+rX "$www"
    self_signed_cert "$tdir"
    start_nginx https "$(HTTP_SERVER_EXTRA="ssl_certificate $tdir/cert.pem; ssl_certificate_key $tdir/key.pem; ssl_protocols TLSv1.2 TLSv1.3;" \
        http_block "$www" '127.0.0.1:8444 ssl')"
    wait_port 127.0.0.1 8444
    local out="$WORK/$name.pcap" keys="$WORK/$name.keys"
    capture_start https timeout 60 tcpdump -Z root -U --immediate-mode -B 65536 -n -i lo -w "$out" "tcp port 8444"
    local base=https://streamscope.test:8444 seg
    local urls=(-o /dev/null "$base/x.m3u8")
    for seg in $(grep -v '^#' "$www/x.m3u8"); do
        urls+=(-o /dev/null "$base/$seg")
    done
    SSLKEYLOGFILE="$keys" timeout 20 curl -sS --fail --insecure --http1.1 \
        --resolve streamscope.test:8444:127.0.0.1 "${urls[@]}"
    capture_stop
    stop "$NGINX_PID"
    [ -s "$keys" ] || { echo "curl wrote no TLS key log ($keys)" >&2; return 1; }
    cp "$out" "$name.pcap"
    cp "$keys" "$name.keys"
}

# ---------------------------------------------------------------------------
# http_opts PORT: set HTTP_OPTS to the tshark options that decode HTTP on PORT:
# `-d tcp.port==PORT,http`, or, if HTTP_KEYLOG names a TLS key log, TLS on PORT
# decrypted with it (HTTP inside is then found by ALPN).
http_opts() {
    if [ -n "${HTTP_KEYLOG:-}" ]; then
        HTTP_OPTS=(-d "tcp.port==$1,tls" -o "tls.keylog_file:$HTTP_KEYLOG")
    else
        HTTP_OPTS=(-d "tcp.port==$1,http")
    fi
}

# http_responses FILE PORT: one line per HTTP response: status, Content-Type,
# URI of its request, TCP stream.  (HTTP_KEYLOG: see http_opts.)
http_responses() {
    local HTTP_OPTS
    http_opts "$2"
    timeout 60 tshark -r "$1" -n "${HTTP_OPTS[@]}" -Y http.response -T fields -E separator=' ' \
        -e http.response.code -e http.content_type -e http.response_for.uri -e tcp.stream
}

# check_http FILE PORT STATUS-REGEX: every request is a GET with a response,
# every status matches, and the Content-Type fits the file extension.
# (HTTP_KEYLOG: see http_opts.)
check_http() {
    local f=$1 port=$2 ok=$3 req resp bad HTTP_OPTS
    http_opts "$port"
    req=$(timeout 60 tshark -r "$f" -n "${HTTP_OPTS[@]}" -Y http.request -T fields -e http.request.method)
    resp=$(http_responses "$f" "$port")
    [ -n "$req" ] || { echo "$f: no HTTP requests" >&2; return 1; }
    bad=$(printf '%s\n' "$req" | grep -v '^GET$' || true)
    [ -z "$bad" ] || { echo "$f: unexpected methods: $bad" >&2; return 1; }
    [ "$(printf '%s\n' "$req" | wc -l)" -eq "$(printf '%s\n' "$resp" | wc -l)" ] ||
        { echo "$f: not every request has a response" >&2; return 1; }
    bad=$(printf '%s\n' "$resp" | awk -v ok="$ok" '$1 !~ ok ||
        ($3 ~ /\.mpd$/ && $2 != "application/dash+xml") || ($3 ~ /\.m4s$/ && $2 != "video/iso.segment") ||
        ($3 ~ /\.mp4$/ && $2 != "video/mp4") || ($3 ~ /\.m3u8$/ && $2 != "application/vnd.apple.mpegurl")')
    [ -z "$bad" ] || { echo "$f: unexpected responses:" >&2; echo "$bad" >&2; return 1; }
}

# check_http_uris FILE PORT REGEX MIN...: at least MIN responses for URIs matching REGEX.
check_http_uris() {
    local f=$1 port=$2 n
    shift 2
    while [ $# -gt 0 ]; do
        n=$(http_responses "$f" "$port" | awk '{ print $3 }' | grep -Ec "$1" || true)
        [ "$n" -ge "$2" ] || { echo "$f: $n responses for '$1', want >= $2" >&2; return 1; }
        shift 2
    done
}

check_all() {
    local f n
    for f in rtmp-publish-play.pcapng rtmp-port19350-chunk8192.pcap hls-http-sll2.pcap \
             rtp-udp-random-port.pcap udp-ip-fragments.pcap vlan-qinq.pcap \
             mixed-interfaces.pcapng tcp-midstream.pcap rtmps-publish-keylog.pcapng \
             rtmps12-publish-keylog.pcapng rtsp-play-udp.pcapng rtsp-play-tcp-interleaved.pcapng \
             rtsp-record.pcapng rtp-loss-jitter.pcap sip-call.pcap dash-vod.pcap hls-fmp4.pcap \
             hls-https-keylog.pcap hls-gzip-chunked.pcap; do
        [ -f "$f" ] || continue
        log "check $f"
        timeout 60 capinfos -t -E -T -c -s "$f" | sed 's/^/   /' >&2 || true
        timeout 60 tshark -r "$f" -q -z io,phs | awk 'NR <= 30 { print "   " $0 }' >&2
        if [ "$f" != tcp-midstream.pcap ]; then
            n=$(timeout 60 tshark -r "$f" -Y 'tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment' | wc -l)
            [ "$n" -eq 0 ] || { echo "$f: $n frames show TCP segments missing from the capture" >&2; return 1; }
        fi
        case $f in
        rtmp-*|tcp-midstream.pcap)
            n=$(timeout 60 tshark -r "$f" -d tcp.port==19350,rtmpt -Y rtmpt | wc -l)
            [ "$n" -gt 0 ] || { echo "no RTMP in $f" >&2; return 1; } ;;
        hls-http-sll2.pcap)
            n=$(timeout 60 tshark -r "$f" -d tcp.port==8088,http -Y http | wc -l)
            [ "$n" -gt 0 ] || { echo "no HTTP in $f" >&2; return 1; }
            timeout 60 capinfos -E "$f" | grep 'Linux cooked-mode capture v2' >/dev/null ||
                { echo "$f is not LINUX_SLL2" >&2; return 1; } ;;
        dash-vod.pcap)
            # GET of the manifest, init segments and media segments, each answered
            # 200 with the right Content-Type
            check_http "$f" 8090 '^200$' || return 1
            check_http_uris "$f" 8090 '/manifest\.mpd$' 1 '/init-stream[0-9]+\.m4s$' 1 \
                '/chunk-stream[0-9]+-[0-9]+\.m4s$' 2 || return 1 ;;
        hls-fmp4.pcap)
            # playlist, EXT-X-MAP init section and fMP4 segments, 200 (curl) or 206
            # (ffmpeg's Range requests); curl's first connection fetched every one
            check_http "$f" 8091 '^20[06]$' || return 1
            check_http_uris "$f" 8091 '/f\.m3u8$' 2 '/init\.mp4$' 2 '/f[0-9]+\.m4s$' 4 || return 1
            local all first
            all=$(http_responses "$f" 8091 | awk '{ print $3 }' | sort -u | wc -l)
            first=$(http_responses "$f" 8091 | awk '$4 == 0 && $1 == 200 { print $3 }' | sort -u | wc -l)
            [ "$first" -eq "$all" ] ||
                { echo "$f: the first connection has $first of the $all URIs with 200" >&2; return 1; }
            n=$(http_responses "$f" 8091 | awk '{ print $4 }' | sort -u | wc -l)
            [ "$n" -ge 2 ] || { echo "$f: no second (ffmpeg) connection" >&2; return 1; } ;;
        hls-https-*)
            # one TLS connection: SNI streamscope.test, ALPN offered and chosen
            # http/1.1; no HTTP without the key log; with it the playlist and
            # every segment, all GET -> 200 on that connection
            local keys=${f%.pcap}.keys v
            [ -s "$keys" ] || { echo "$f: no key log $keys" >&2; return 1; }
            v=$(timeout 60 tshark -r "$f" -n -Y 'tls.handshake.type == 1' -T fields -E separator=' ' \
                -e tls.handshake.extensions_server_name -e tls.handshake.extensions_alpn_str)
            [ "$v" = "streamscope.test http/1.1" ] ||
                { echo "$f: expected 1 ClientHello with SNI streamscope.test and ALPN http/1.1, got '$v'" >&2; return 1; }
            # decrypted, the server's EncryptedExtensions carries the chosen ALPN
            v=$(timeout 60 tshark -r "$f" -n -o "tls.keylog_file:$keys" -Y 'tls.handshake.extensions_alpn_str' \
                -T fields -e tls.handshake.extensions_alpn_str | tr '\n' ' ')
            [ "$v" = "http/1.1 http/1.1 " ] ||
                { echo "$f: ALPN not http/1.1 on both sides (ClientHello, EncryptedExtensions): '$v'" >&2; return 1; }
            n=$(timeout 60 tshark -r "$f" -n -d tcp.port==8444,tls -Y http | wc -l)
            [ "$n" -eq 0 ] || { echo "$f: $n frames decode as HTTP without the key log" >&2; return 1; }
            HTTP_KEYLOG=$keys check_http "$f" 8444 '^200$' || return 1
            HTTP_KEYLOG=$keys check_http_uris "$f" 8444 '/x\.m3u8$' 1 '/x[0-9]+\.ts$' 3 || return 1
            n=$(HTTP_KEYLOG=$keys http_responses "$f" 8444 | awk '{ print $4 }' | sort -u | wc -l)
            [ "$n" -eq 1 ] || { echo "$f: HTTP responses on $n connections, want 1" >&2; return 1; } ;;
        rtsp-*)
            # every RTSP method the capture is about, and RTP (UDP or $-interleaved)
            local want m
            case $f in
            rtsp-play-udp*) want="OPTIONS DESCRIBE SETUP PLAY TEARDOWN" ;;
            rtsp-play-tcp*) want="OPTIONS DESCRIBE SETUP PLAY TEARDOWN" ;;
            rtsp-record*) want="OPTIONS ANNOUNCE SETUP RECORD TEARDOWN" ;;
            esac
            for m in $want; do
                n=$(timeout 60 tshark -r "$f" -Y "rtsp.method == \"$m\"" | wc -l)
                [ "$n" -gt 0 ] || { echo "$f: no RTSP $m" >&2; return 1; }
            done
            case $f in
            rtsp-play-udp*) n=$(timeout 60 tshark -r "$f" -Y 'udp && rtp' | wc -l) ;;
            *) n=$(timeout 60 tshark -r "$f" -Y 'rtsp.channel && rtp' | wc -l) ;;
            esac
            [ "$n" -gt 20 ] || { echo "$f: only $n frames with RTP" >&2; return 1; }
            if [ "$f" = rtsp-play-tcp-interleaved.pcapng ]; then
                n=$(timeout 60 tshark -r "$f" -Y 'rtsp.method == "PLAY"' -T fields -e tcp.stream | sort -u | wc -l)
                [ "$n" -eq 2 ] || { echo "$f: expected 2 playing connections, got $n" >&2; return 1; }
            fi ;;
        rtp-loss-jitter.pcap)
            # both legs carry RTP; the relay did exactly what it was asked to
            n=$(timeout 60 tshark -r "$f" -d udp.port==40000,rtp -d udp.port==40100,rtp -Y rtp \
                -T fields -e udp.dstport | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
            [ "$n" = "40000:250 40100:245 " ] || { echo "$f: unexpected RTP counts per leg: $n" >&2; return 1; }
            python3 - "${f%.pcap}.relay.json" "$RELAY_DROP" "$RELAY_DUP" <<'PY' || return 1
import json, sys
log = json.load(open(sys.argv[1]))
drop = [int(x) for x in sys.argv[2].split(",")]
dup = [int(x) for x in sys.argv[3].split(",")]
bad = [k for k, v in log["not_seen"].items() if v]
if sorted(log["dropped_seqs"]) != sorted(drop) or log["duplicated_seqs"] != dup or bad:
    sys.exit("relay log does not match the requested impairments: %s" % log)
PY
            ;;
        sip-*)
            for m in INVITE ACK BYE; do
                n=$(timeout 60 tshark -r "$f" -Y "sip.Method == \"$m\" && sip.Request-Line" | wc -l)
                [ "$n" -eq 1 ] || { echo "$f: expected 1 SIP $m, got $n" >&2; return 1; }
            done
            n=$(timeout 60 tshark -r "$f" -Y 'sip.Status-Code' -T fields -e sip.Status-Code | tr '\n' ' ')
            [ "$n" = "100 180 200 200 " ] || { echo "$f: unexpected SIP responses: $n" >&2; return 1; }
            n=$(timeout 60 tshark -r "$f" -Y rtp -T fields -e udp.dstport | sort -u | wc -l)
            [ "$n" -eq 2 ] || { echo "$f: expected RTP in both directions" >&2; return 1; } ;;
        rtp-*)
            n=$(timeout 60 tshark -r "$f" -d udp.port==41234,rtp -d udp.port==42346,rtp -Y rtp | wc -l)
            [ "$n" -gt 0 ] || { echo "no RTP in $f" >&2; return 1; } ;;
        vlan-*)
            n=$(timeout 60 tshark -r "$f" -Y 'vlan.id==100' | wc -l)
            [ "$n" -gt 0 ] || { echo "no 802.1Q VLAN 100 in $f" >&2; return 1; }
            n=$(timeout 60 tshark -r "$f" -Y 'ieee8021ad.id==200 && vlan.id==300' | wc -l)
            [ "$n" -gt 0 ] || { echo "no QinQ 200/300 in $f" >&2; return 1; } ;;
        mixed-*)
            n=$(timeout 60 tshark -r "$f" -T fields -e frame.interface_id | sort -u | wc -l)
            [ "$n" -eq 2 ] || { echo "$f: expected 2 interfaces, got $n" >&2; return 1; } ;;
        rtmps*)
            # decrypts with its key log: ClientHello present, decrypted plaintext starts with C0 (0x03)
            local keys=${f%.pcapng}.keys v
            [ -s "$keys" ] || { echo "$f: no key log $keys" >&2; return 1; }
            n=$(timeout 60 tshark -r "$f" -Y 'tls.handshake.type == 1' | wc -l)
            [ "$n" -eq 1 ] || { echo "$f: expected 1 ClientHello, got $n" >&2; return 1; }
            v=$(timeout 60 tshark -r "$f" -o "tls.keylog_file:$keys" -q -z follow,tls,raw,0 |
                awk '/^[0-9a-f]/ { print substr($0, 1, 2); exit }')
            [ "$v" = 03 ] || { echo "$f: TLS plaintext does not start with RTMP C0 0x03 ('$v')" >&2; return 1; }
            n=$(timeout 60 tshark -r "$f" -o "tls.keylog_file:$keys" -Y 'tls.handshake.type == 20' | wc -l)
            [ "$n" -eq 2 ] || { echo "$f: expected 2 decrypted Finished messages, got $n" >&2; return 1; } ;;
        esac
        log "  $f ok"
    done
    if [ -f rtmp-port19350-chunk8192.pcap ]; then
        timeout 60 capinfos -t rtmp-port19350-chunk8192.pcap | grep 'nanosecond pcap' >/dev/null ||
            { echo "rtmp-port19350-chunk8192.pcap is not a nanosecond pcap" >&2; return 1; }
    fi
}

ALL=(rtmp rtmp19350 hls rtp frag vlan mixed midstream rtmps rtmps12 rtsp rtsptcp rtsprec rtploss sip dash hlsfmp4 https gzip)
if [ $# -eq 0 ]; then set -- "${ALL[@]}"; fi
for what in "$@"; do
    case $what in
    rtmp) make_rtmp ;;
    rtmp19350) make_rtmp19350 ;;
    hls) make_hls ;;
    rtp) make_rtp ;;
    frag) make_frag ;;
    vlan) make_vlan ;;
    mixed) make_mixed ;;
    midstream) make_midstream ;;
    rtmps) make_rtmps rtmps-publish-keylog 'ssl_protocols TLSv1.2 TLSv1.3;' ;;
    rtmps12) make_rtmps rtmps12-publish-keylog 'ssl_protocols TLSv1.2; ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256;' ;;
    rtsp) make_rtsp_udp ;;
    rtsptcp) make_rtsp_tcp ;;
    rtsprec) make_rtsp_record ;;
    rtploss) make_rtp_loss ;;
    sip) make_sip ;;
    dash) make_dash ;;
    hlsfmp4) make_hlsfmp4 ;;
    https) make_https ;;
    gzip) make_gzip ;;
    *) echo "unknown sample '$what' (known: ${ALL[*]})" >&2; exit 2 ;;
    esac
done

check_all
log "fixtures"
# Fixtures are rewritten, not wiped: the other make-*-samples.sh scripts keep theirs here too.
mkdir -p fixtures
chmod 0644 ./*.pcap ./*.pcapng ./*.keys
timeout 600 python3 tshark-fixture.py ./*.pcap ./*.pcapng
timeout 600 python3 rtmp-fixture.py ./rtmp-*.pcap ./rtmp-*.pcapng
timeout 600 python3 tls-fixture.py ./rtmps*.pcapng
timeout 600 python3 ts-fixture.py ./hls-http-sll2.pcap ./dash-vod.pcap ./hls-fmp4.pcap ./hls-gzip-chunked.pcap
timeout 600 python3 http-fixture.py ./hls-http-sll2.pcap ./mixed-interfaces.pcapng ./udp-ip-fragments.pcap ./vlan-qinq.pcap \
    ./dash-vod.pcap ./hls-fmp4.pcap ./hls-gzip-chunked.pcap
timeout 600 python3 http-fixture.py --keylog hls-https-keylog.keys ./hls-https-keylog.pcap
timeout 600 python3 rtp-fixture.py ./rtsp-*.pcapng ./rtp-loss-jitter.pcap ./rtp-udp-random-port.pcap ./sip-call.pcap
ls -l ./*.pcap ./*.pcapng ./*.keys fixtures >&2
