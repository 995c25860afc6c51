#!/usr/bin/env bash
# Regenerate the WebRTC / TURN / DTLS sample captures, their recorded keys and
# their tshark fixtures.
#
#   bash samples/make-webrtc-samples.sh              # all captures
#   bash samples/make-webrtc-samples.sh turn dtls    # only some (see the case below)
#   bash samples/make-webrtc-samples.sh fixtures     # only the checks and fixtures
#
# Needs root (packet capture, network namespaces), tshark/capinfos, tcpdump,
# coturn (turnserver, turnutils_stunclient, turnutils_uclient, turnutils_peer),
# openssl, iproute2 and a python3 with aiortc (`pip install aiortc`; made with
# aiortc 1.16.0, aioice 0.13.0, pyOpenSSL 26.4.0).  Each capture is made inside
# a network namespace of its own that this script creates (only its loopback
# up) and deletes, so nothing leaves the machine and nothing else on the host's
# loopback gets in.  Every external command is bounded with `timeout`.
#
#   turn-udp-tcp.pcap        coturn with long-term credentials: a STUN Binding
#                            (turnutils_stunclient), tools/turn-client.py over
#                            UDP (channel 0x4001) and TCP (channel 0x6001, in
#                            RFC 5766's range only), turnutils_uclient over UDP (Send
#                            indications) and TCP (channels); credentials in
#                            turn-udp-tcp.credentials.json
#   dtls12-openssl.pcap      openssl s_server/s_client -dtls1_2: one plain
#                            association, one with use_srtp, a cookie exchange
#                            and a fragmented handshake (-mtu 300, RSA-4096
#                            certificate); key log dtls12-openssl.keys, the
#                            DTLS-SRTP exporter output in dtls12-openssl.srtp.json
#   webrtc-aiortc.pcap       two aiortc peers on 127.0.0.1 host candidates
#                            (tools/webrtc-peers.py): Opus + VP8 + a data
#                            channel; key log webrtc-aiortc.keys, SRTP master
#                            keys and SSRCs in webrtc-aiortc.srtp.json
#   webrtc-aiortc-turn.pcap  the same, the offerer relayed through coturn
#                            (iceTransportPolicy relay), SRTP_AES128_CM_SHA1_80;
#                            webrtc-aiortc-turn.keys, webrtc-aiortc-turn.srtp.json
#
# Fixtures: tshark-fixture.py (flows, conversations), webrtc-fixture.py
# (STUN/TURN, DTLS, SRTP/SRTCP per packet) and dtls-fixture.py (decrypted DTLS
# records and the SCTP inside them) for these captures only.
set -euo pipefail
shopt -s nullglob
umask 022

cd "$(dirname "$0")"

WORK=$(mktemp -d)
chmod 0755 "$WORK"
PIDS=()
NETNS=()

# log, cleanup, spawn, stop, wait_for_text, capture_start/stop, wait_port, ns_up/down, ...
. ./lib.sh
trap cleanup EXIT







# Test credentials of the throwaway TURN servers below (recorded in the sidecar JSON files).
TURN_USER=streamscope
TURN_PASS=turn-test-pw
TURN_REALM=streamscope.test

# start_turn NAME: coturn on 127.0.0.1:3478 (UDP and TCP) in $NS, long-term credentials,
# relay ports 49152-49200 on 127.0.0.1, loopback peers allowed; TURN_PID is set.
start_turn() {
    local dir="$WORK/turn-$1"
    mkdir -p "$dir"
    spawn ip netns exec "$NS" turnserver -n --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 -p 3478 \
        --lt-cred-mech --user "$TURN_USER:$TURN_PASS" --realm "$TURN_REALM" \
        --no-tls --no-dtls --no-cli --allow-loopback-peers --min-port 49152 --max-port 49200 \
        --userdb "$dir/turndb" --pidfile "$dir/turn.pid" --log-file stdout --simple-log \
        >"$dir/turn.log" 2>&1
    TURN_PID=$LAST_PID
    wait_port 127.0.0.1 3478
}

# ---------------------------------------------------------------------------
# (a) turn-udp-tcp.pcap
make_turn() {
    log "turn-udp-tcp.pcap + turn-udp-tcp.credentials.json"
    ns_up ssc-wrtc-turn
    start_turn turn
    # UDP echo peer on 127.0.0.1:3480 (turnutils_peer)
    spawn ip netns exec "$NS" turnutils_peer -L 127.0.0.1 -p 3480 >"$WORK/peer.log" 2>&1
    sleep 0.5
    local out="$WORK/turn-udp-tcp.pcap" steps="$WORK/turn-steps.jsonl"
    capture_ns turn "$out"
    in_ns timeout 10 turnutils_stunclient 127.0.0.1 >"$WORK/stunclient.log" 2>&1 ||
        { cat "$WORK/stunclient.log" >&2; return 1; }
    sleep 0.2
    # over UDP channel 0x4001 (RFC 8656 range), over TCP channel 0x6001 (RFC 5766 range only)
    local t
    for t in udp:0x4001 tcp:0x6001; do
        in_ns timeout 20 python3 tools/turn-client.py --server 127.0.0.1:3478 --transport "${t%:*}" \
            --channel "${t#*:}" --user "$TURN_USER" --password "$TURN_PASS" --peer 127.0.0.1:3480 \
            --log "$steps" >&2
        sleep 0.2
    done
    # coturn's own client: UDP with Send indications, then TCP with channels; 3 messages
    # of 120 bytes 50 ms apart to the echo peer, no RTCP allocation; Refresh 0 at the end
    in_ns timeout 20 turnutils_uclient -s -c -n 3 -l 120 -z 50 -u "$TURN_USER" -w "$TURN_PASS" \
        -e 127.0.0.1 -r 3480 127.0.0.1 >"$WORK/uclient-udp.log" 2>&1 ||
        { tail -20 "$WORK/uclient-udp.log" >&2; return 1; }
    in_ns timeout 20 turnutils_uclient -t -c -n 3 -l 120 -z 50 -u "$TURN_USER" -w "$TURN_PASS" \
        -e 127.0.0.1 -r 3480 127.0.0.1 >"$WORK/uclient-tcp.log" 2>&1 ||
        { tail -20 "$WORK/uclient-tcp.log" >&2; return 1; }
    capture_stop
    stop_bg
    ns_down
    python3 - "$steps" "$TURN_USER" "$TURN_PASS" "$TURN_REALM" >"$WORK/turn-udp-tcp.credentials.json" <<'PY'
import hashlib, json, sys
steps = [json.loads(l) for l in open(sys.argv[1])]
user, pw, realm = sys.argv[2:5]
json.dump({
    "server": "127.0.0.1:3478", "transports": ["udp", "tcp"],
    "username": user, "password": pw, "realm": realm,
    "long_term_key_md5_hex": hashlib.md5(("%s:%s:%s" % (user, realm, pw)).encode()).hexdigest(),
    "note": "test credentials of a throwaway coturn (turnserver --lt-cred-mech) on loopback",
    "peer": "127.0.0.1:3480 (turnutils_peer, UDP echo)",
    "clients": [
        "turnutils_stunclient 127.0.0.1 (Binding)",
        "tools/turn-client.py --transport udp --channel 0x4001",
        "tools/turn-client.py --transport tcp --channel 0x6001",
        "turnutils_uclient -s -c -n 3 -l 120 -z 50 (UDP, Send indications)",
        "turnutils_uclient -t -c -n 3 -l 120 -z 50 (TCP, channels)",
    ],
    "turn_client_py_steps": steps,
}, sys.stdout, indent=2)
sys.stdout.write("\n")
PY
    cp "$out" turn-udp-tcp.pcap
    cp "$WORK/turn-udp-tcp.credentials.json" turn-udp-tcp.credentials.json
}

# ---------------------------------------------------------------------------
# (b) dtls12-openssl.pcap: openssl s_server / s_client, DTLS 1.2 on UDP
#     association 1: 127.0.0.1:4433, RSA-2048, no use_srtp, -mtu 1400 (without an
#                    MTU s_server, whose socket is not connected, falls back to
#                    OpenSSL's minimum and fragments the certificate)
#     association 2: 127.0.0.1:4434, RSA-4096, -listen, -use_srtp
#                    SRTP_AES128_CM_SHA1_80, -mtu 300 on both sides so the
#                    certificate and key exchange are sent in handshake fragments;
#                    both sides export the DTLS-SRTP keying material
#     s_server always answers the first ClientHello with a HelloVerifyRequest
#     (cookie exchange), so each association has two ClientHellos.
#     Each client sends two lines and the server one; the client's stdin EOF ends
#     it (close_notify).  s_client -keylogfile records both associations.
# feed SECONDS-BEFORE TEXT SECONDS-AFTER: print TEXT after a pause, then hold stdin open.
feed() {
    sleep "$1"
    printf '%s\n' "$2"
    sleep "$3"
}

dtls_assoc() {
    # dtls_assoc N PORT CERTDIR EXTRA-SERVER-OPTS EXTRA-CLIENT-OPTS (opts as one string each)
    local n=$1 port=$2 cdir=$3 sopts=$4 copts=$5
    # shellcheck disable=SC2086
    timeout 20 ip netns exec "$NS" openssl s_server -dtls1_2 -accept "127.0.0.1:$port" -naccept 1 \
        -cert "$cdir/cert.pem" -key "$cdir/key.pem" $sopts \
        < <(feed 1.0 "streamscope dtls server line $n" 3) >"$WORK/dtls-s$n.log" 2>&1 &
    local srv=$!
    PIDS+=("$srv")
    wait_for_text "$WORK/dtls-s$n.log" '^ACCEPT'
    # shellcheck disable=SC2086
    { feed 0.3 "streamscope dtls client line $n.1" 0; feed 0.3 "streamscope dtls client line $n.2" 1.5; } |
        timeout 20 ip netns exec "$NS" openssl s_client -dtls1_2 -connect "127.0.0.1:$port" \
            -keylogfile "$WORK/dtls-k$n.keys" $copts >"$WORK/dtls-c$n.log" 2>&1 ||
        { cat "$WORK/dtls-c$n.log" >&2; return 1; }
    wait "$srv" || { echo "openssl s_server $n failed" >&2; cat "$WORK/dtls-s$n.log" >&2; return 1; }
    forget "$srv"
    grep -q "streamscope dtls client line $n.2" "$WORK/dtls-s$n.log" ||
        { echo "s_server $n did not get the client's lines" >&2; cat "$WORK/dtls-s$n.log" >&2; return 1; }
    grep -q "streamscope dtls server line $n" "$WORK/dtls-c$n.log" ||
        { echo "s_client $n did not get the server's line" >&2; cat "$WORK/dtls-c$n.log" >&2; return 1; }
}

make_dtls() {
    log "dtls12-openssl.pcap + dtls12-openssl.keys + dtls12-openssl.srtp.json"
    local c1="$WORK/dtls-cert1" c2="$WORK/dtls-cert2" bits d
    mkdir -p "$c1" "$c2"
    for d in "$c1:2048" "$c2:4096"; do
        bits=${d##*:}
        timeout 120 openssl req -x509 -newkey "rsa:$bits" -nodes -sha256 -days 30 -subj /CN=streamscope.test \
            -keyout "${d%:*}/key.pem" -out "${d%:*}/cert.pem" 2>/dev/null
    done
    ns_up ssc-wrtc-dtls
    local out="$WORK/dtls12-openssl.pcap"
    capture_ns dtls "$out" udp
    dtls_assoc 1 4433 "$c1" "-mtu 1400" "-mtu 1400"
    sleep 0.3
    local km="-keymatexport EXTRACTOR-dtls_srtp -keymatexportlen 60"
    dtls_assoc 2 4434 "$c2" "-listen -mtu 300 -use_srtp SRTP_AES128_CM_SHA1_80 $km" \
        "-mtu 300 -use_srtp SRTP_AES128_CM_SHA1_80 $km"
    capture_stop
    ns_down
    grep -h '^CLIENT_RANDOM ' "$WORK/dtls-k1.keys" "$WORK/dtls-k2.keys" >"$WORK/dtls12-openssl.keys"
    [ "$(wc -l <"$WORK/dtls12-openssl.keys")" -eq 2 ] ||
        { echo "expected 2 CLIENT_RANDOM lines in the DTLS key logs" >&2; return 1; }
    python3 - "$WORK/dtls-c2.log" "$WORK/dtls-s2.log" >"$WORK/dtls12-openssl.srtp.json" <<'PY'
import base64, json, re, sys
def material(path):
    text = open(path).read()
    m = re.search(r"Keying material: ([0-9A-F]+)", text)
    p = re.search(r"SRTP Extension negotiated, profile=(\S+)", text)
    c = re.search(r"Cipher is (\S+)", text) or re.search(r"CIPHER is (\S+)", text)
    return bytes.fromhex(m.group(1)), p.group(1), c.group(1)
km, profile, cipher = material(sys.argv[1])
km_s, profile_s, _ = material(sys.argv[2])
assert km == km_s and profile == profile_s == "SRTP_AES128_CM_SHA1_80", "exporter output differs"
b = lambda x: {"hex": x.hex(), "base64": base64.b64encode(x).decode()}
json.dump({
    "association": "second (127.0.0.1:4434)", "cipher_suite_openssl": cipher,
    "srtp_profile": profile, "exporter_label": "EXTRACTOR-dtls_srtp",
    "keying_material": b(km),
    "client_write": {"master_key": b(km[0:16]), "master_salt": b(km[32:46])},
    "server_write": {"master_key": b(km[16:32]), "master_salt": b(km[46:60])},
    "note": "RFC 5764 4.2 split of the 60 exported bytes; no SRTP was sent (openssl only negotiates it)",
}, sys.stdout, indent=2)
sys.stdout.write("\n")
PY
    cp "$out" dtls12-openssl.pcap
    cp "$WORK/dtls12-openssl.keys" dtls12-openssl.keys
    cp "$WORK/dtls12-openssl.srtp.json" dtls12-openssl.srtp.json
}

# ---------------------------------------------------------------------------
# (c) webrtc-aiortc.pcap / (d) webrtc-aiortc-turn.pcap: tools/webrtc-peers.py
#     make_aiortc NAME [turn]
make_aiortc() {
    local name=$1 mode=${2:-}
    log "$name.pcap + $name.keys + $name.srtp.json"
    python3 -c 'import aiortc' 2>/dev/null || { echo "python3 has no aiortc (pip install aiortc)" >&2; return 1; }
    ns_up "ssc-wrtc-${mode:-host}"
    local extra=()
    if [ "$mode" = turn ]; then
        start_turn "$name"
        extra=(--turn 127.0.0.1:3478 --turn-user "$TURN_USER" --turn-password "$TURN_PASS"
               --turn-realm "$TURN_REALM" --srtp-profile SRTP_AES128_CM_SHA1_80)
    fi
    local out="$WORK/$name.pcap"
    # UDP only: keeps out the RST coturn sends for wait_port's probe connection
    capture_ns "$name" "$out" udp
    in_ns timeout 60 python3 tools/webrtc-peers.py --seconds 5 --keylog "$WORK/$name.keys" \
        --srtp-json "$WORK/$name.srtp.json" "${extra[@]}" >&2
    capture_stop
    stop_bg
    ns_down
    [ -s "$WORK/$name.keys" ] || { echo "no DTLS key log from aiortc" >&2; return 1; }
    cp "$out" "$name.pcap"
    cp "$WORK/$name.keys" "$name.keys"
    cp "$WORK/$name.srtp.json" "$name.srtp.json"
}

# ---------------------------------------------------------------------------
check_all() {
    local f n
    for f in turn-udp-tcp.pcap dtls12-openssl.pcap webrtc-aiortc.pcap webrtc-aiortc-turn.pcap; do
        [ -f "$f" ] || continue
        log "check $f"
        timeout 60 capinfos -c -u -s "$f" | sed 's/^/   /' >&2 || true
        n=$(stat -c %s "$f")
        [ "$n" -le 3145728 ] || { echo "$f: $n bytes, over 3 MB" >&2; return 1; }
        case $f in
        turn-*)
            local want m
            for m in 'stun.type.method == 0x001 && stun.type.class == 0x10' \
                     'stun.type.method == 0x003 && stun.att.error == 1' \
                     'stun.type.method == 0x003 && stun.type.class == 0x10' \
                     'stun.type.method == 0x008 && stun.type.class == 0x10' \
                     'stun.type.method == 0x006' 'stun.type.method == 0x007' \
                     'stun.type.method == 0x009 && stun.type.class == 0x10' \
                     'stun.type.method == 0x009 && stun.att.error == 0' \
                     'stun.channel' 'stun.type.method == 0x004 && stun.att.lifetime == 0' \
                     'tcp && stun.type.method == 0x009' 'tcp && stun.channel'; do
                n=$(timeout 60 tshark -r "$f" -n -Y "$m" | wc -l)
                [ "$n" -gt 0 ] || { echo "$f: nothing matches '$m'" >&2; return 1; }
            done ;;
        dtls12-*)
            n=$(timeout 60 tshark -r "$f" -n -Y 'dtls.handshake.type == 1' | wc -l)
            [ "$n" -eq 4 ] || { echo "$f: expected 4 ClientHellos (2 after a cookie), got $n" >&2; return 1; }
            n=$(timeout 60 tshark -r "$f" -n -Y 'dtls.handshake.type == 3' | wc -l)
            [ "$n" -eq 2 ] || { echo "$f: expected 2 HelloVerifyRequests, got $n" >&2; return 1; }
            # fragments only in the second association (port 4434)
            n=$(timeout 60 tshark -r "$f" -n -Y 'dtls.handshake.fragment_offset > 0' -T fields -e udp.srcport | sort -u)
            [ "$n" = 4434 ] || { echo "$f: handshake fragments from '$n', want 4434 only" >&2; return 1; }
            n=$(timeout 60 tshark -r "$f" -n -Y 'dtls.use_srtp.protection_profile' | wc -l)
            [ "$n" -ge 2 ] || { echo "$f: use_srtp not in ClientHello and ServerHello" >&2; return 1; }
            n=$(timeout 60 tshark -r "$f" -n -o tls.keylog_file:dtls12-openssl.keys -Y 'dtls.app_data' \
                -T fields -e dtls.app_data | wc -l)
            [ "$n" -ge 6 ] || { echo "$f: $n decrypted application data records, want 6" >&2; return 1; } ;;
        webrtc-*)
            local keys=${f%.pcap}.keys
            n=$(timeout 60 tshark -r "$f" -n -Y 'dtls.handshake.type == 20' -o "tls.keylog_file:$keys" | wc -l)
            [ "$n" -ge 2 ] || { echo "$f: $n decrypted Finished messages, want 2" >&2; return 1; }
            # SRTP from both peers (audio and video each way)
            n=$(timeout 60 tshark -r "$f" -n --enable-heuristic rtp_udp -Y 'rtp.version == 2' -T fields -e rtp.ssrc |
                sort -u | wc -l)
            [ "$n" -eq 4 ] || { echo "$f: $n SRTP SSRCs, want 4" >&2; return 1; }
            if [ "$f" = webrtc-aiortc-turn.pcap ]; then
                n=$(timeout 60 tshark -r "$f" -n -Y 'stun.channel' | wc -l)
                [ "$n" -gt 100 ] || { echo "$f: only $n ChannelData messages" >&2; return 1; }
            fi ;;
        esac
        log "  $f ok"
    done
}

ALL=(turn dtls aiortc aiortcturn)
if [ $# -eq 0 ]; then set -- "${ALL[@]}"; fi
for what in "$@"; do
    case $what in
    fixtures) ;;  # no new captures: only the checks and the fixtures
    turn) make_turn ;;
    dtls) make_dtls ;;
    aiortc) make_aiortc webrtc-aiortc ;;
    aiortcturn) make_aiortc webrtc-aiortc-turn turn ;;
    *) echo "unknown sample '$what' (known: ${ALL[*]})" >&2; exit 2 ;;
    esac
done

check_all
log "fixtures"
mkdir -p fixtures
chmod 0644 ./turn-udp-tcp.* ./dtls12-openssl.* ./webrtc-aiortc*.*
CAPS=(./turn-udp-tcp.pcap ./dtls12-openssl.pcap ./webrtc-aiortc.pcap ./webrtc-aiortc-turn.pcap)
timeout 600 python3 tshark-fixture.py "${CAPS[@]}"
timeout 600 python3 webrtc-fixture.py "${CAPS[@]}"
timeout 600 python3 dtls-fixture.py ./dtls12-openssl.pcap ./webrtc-aiortc.pcap ./webrtc-aiortc-turn.pcap
# RTP relayed by coturn between the two legs (the latency lab's relay pairs).
timeout 600 python3 relay-fixture.py ./webrtc-aiortc-turn.pcap
ls -l "${CAPS[@]}" ./turn-udp-tcp.credentials.json ./dtls12-openssl.keys ./dtls12-openssl.srtp.json \
    ./webrtc-aiortc*.keys ./webrtc-aiortc*.srtp.json >&2
