#!/bin/bash
# SPDX-License-Identifier: MIT
# svcid-gate --mode http: a real inetd-style HTTP server (BusyBox httpd -i)
# behind the gate, curl as the client, per connection (fd 3, inetd) and
# long-lived. 200 with a valid bearer token; 401 with
# WWW-Authenticate: Bearer error="invalid_token" without one or with a bad
# one; the request reaches the service byte for byte (the gate only peeks).
set -euo pipefail
. "$(dirname "$0")/t_gate_common.sh"

command -v curl >/dev/null || skip "curl not installed"
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] && "$BUSYBOX" --list | grep -x httpd >/dev/null || skip "busybox with httpd not installed"

ISS=svcid://gate-http-test.example
AUD=web
keygen k1 "$ISS"
mkdir -p "$T/www"
echo "hello from behind the gate" > "$T/www/index.html"
TOKEN=$(mint k1 --iss "$ISS" --aud "$AUD" --sub web-client)
EXPIRED=$(mint k1 --iss "$ISS" --aud "$AUD" --iat-offset -2000)
LOG=$T/gate.log

# curl_check LABEL ADDR EXPECTED-STATUS EXPECTED-REASON curl-args...
curl_check() {
        local label=$1 addr=$2 want=$3 reason=$4; shift 4
        local url=http://localhost/index.html target=()
        case $addr in
        /*) target=(--unix-socket "$addr") ;;
        *) url=http://$addr/index.html ;;
        esac
        local code
        code=$(curl -sS -m 20 -o "$T/body" -D "$T/headers" -w '%{http_code}' "${target[@]}" "$@" "$url") ||
                fail "$label: curl failed"
        [ "$code" = "$want" ] || fail "$label: HTTP $code, expected $want; body: $(head -c 200 "$T/body")"
        if [ "$want" = 200 ]; then
                grep -q 'hello from behind the gate' "$T/body" || fail "$label: wrong body"
        else
                grep -qi '^WWW-Authenticate: Bearer error="invalid_token"' "$T/headers" ||
                        fail "$label: no WWW-Authenticate: Bearer error=\"invalid_token\" header: $(cat "$T/headers")"
                grep -qi "error_description=\"$reason\"" "$T/headers" || fail "$label: reason is not $reason: $(cat "$T/headers")"
                grep -q "refused: $reason" "$T/body" || fail "$label: body does not name $reason"
                # a refusal is for this request only: no cache keeps it
                grep -qi '^Cache-Control: no-store' "$T/headers" || fail "$label: no Cache-Control: no-store: $(cat "$T/headers")"
        fi
        ok "$label: HTTP $code${reason:+ ($reason)}"
}

http_suite() {  # ADDR LABEL ssa-options...
        local addr=$1 label=$2; shift 2
        : > "$LOG"
        start_ssa "$LOG" "$addr" "$@" -- -a "$AUD" --trust "$T/keys/k1.jwks" --mode http --timeout 2 -- \
                "$BUSYBOX" httpd -i -h "$T/www"
        curl_check "$label valid token" "$addr" 200 "" -H "Authorization: Bearer $TOKEN"
        curl_check "$label header names in other case" "$addr" 200 "" -H "authorization: bearer $TOKEN"
        curl_check "$label no token" "$addr" 401 no_token
        curl_check "$label basic auth" "$addr" 401 no_token -u user:pass
        curl_check "$label garbage token" "$addr" 401 malformed -H "Authorization: Bearer abc.def"
        curl_check "$label expired token" "$addr" 401 expired -H "Authorization: Bearer $EXPIRED"
        curl_check "$label two Authorization headers" "$addr" 401 malformed \
                -H "Authorization: Bearer $TOKEN" -H "X-A: 1" -H "Authorization: Bearer $TOKEN" 
        local big
        big=$(head -c 17000 /dev/zero | tr '\0' a)
        curl_check "$label over-size head" "$addr" 401 too_large -H "Authorization: Bearer $TOKEN" -H "X-Pad: $big"
        stop_ssa
        grep -q 'admitted sub="web-client"' "$LOG" || fail "$label: no audit line for the admission"
        grep -q 'refused reason=expired' "$LOG" || fail "$label: no audit line for the refusal"
}

PORT=$(free_port)
http_suite "$T/http.sock" "fd3/unix" -a
http_suite "127.0.0.1:$PORT" "inetd/tcp" -a --inetd
PORT=$(free_port)
http_suite "127.0.0.1:$PORT" "long-lived/tcp"
rm -f "$T/http.sock"
http_suite "$T/http.sock" "long-lived/unix"

# The service gets the request untouched: a recording service behind the
# gate stores every byte, here a POST with 1 MiB of random body, and a head
# that arrives in two parts (the gate must wait for the rest, not judge the
# first part alone).
head -c 1048576 /dev/urandom > "$T/random.bin"
REQ_HEAD="POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $TOKEN\r\nContent-Length: 1048576\r\n\r\n"
for style in "fd3/unix:$T/rec.sock:-a" "long-lived/unix:$T/rec2.sock:" "long-lived/tcp:127.0.0.1:$(free_port):"; do
        label=${style%%:*}; rest=${style#*:}; opt=${rest##*:}; addr=${rest%:*}
        : > "$LOG"
        start_ssa "$LOG" "$addr" $opt -- -a "$AUD" --trust "$T/keys/k1.jwks" --mode http --timeout 3 -- "$T/svc.sh"
        reset_out
        reply=$(client "$addr" --send "$REQ_HEAD" --send-file "$T/random.bin")
        [ "$reply" = served ] || fail "$label: the recording service did not answer: $(printf %s "$reply" | head -c 200)"
        printf "$REQ_HEAD" > "$T/expected"
        cat "$T/random.bin" >> "$T/expected"
        cmp -s "$T/expected" "$T/out/data" || fail "$label: the request reached the service altered"
        grep -qx "SVCID_SUB=web-client" "$T/out/env" || fail "$label: SVCID_SUB wrong"
        ok "$label: head and 1 MiB body reached the service byte for byte"

        reset_out
        reply=$(client "$addr" --send "GET / HTTP/1.1\r\nHost: x\r\nAuthori" --pause 0.5 \
                --then "zation: Bearer $TOKEN\r\n\r\n")
        [ "$reply" = served ] || fail "$label: a head in two parts was not admitted: $(printf %s "$reply" | head -c 200)"
        ok "$label: head split over two writes admitted"

        reset_out
        reply=$(client "$addr" --send "GET / HTTP/1.1\r\nHost: x\r\n" --no-shut)
        case $reply in
        "HTTP/1.1 401 Unauthorized"*"error_description=\"timeout\""*) ok "$label: silent client cut off at the timeout" ;;
        *) fail "$label: an unfinished head did not time out: $(printf %s "$reply" | head -c 200)" ;;
        esac
        reset_out
        reply=$(client "$addr" --send "GET / HTTP/1.1\r\nHost: x\r\n")
        case $reply in
        *"error_description=\"truncated\""*) ok "$label: head cut short refused as truncated" ;;
        *) fail "$label: a head cut short was not refused as truncated: $(printf %s "$reply" | head -c 200)" ;;
        esac
        # ... also when the client ends it only after a pause, once the gate
        # has looked and found nothing new.
        reply=$("$PY" - "$addr" <<'PYEOF'
import socket, sys, time
a = sys.argv[1]
if a.startswith("/"):
    s = socket.socket(socket.AF_UNIX); s.connect(a)
else:
    h, p = a.rsplit(":", 1); s = socket.create_connection((h, int(p)))
s.settimeout(30)
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
time.sleep(1)
s.shutdown(socket.SHUT_WR)
out = b""
while True:
    d = s.recv(4096)
    if not d: break
    out += d
print(out.decode(errors="replace"))
PYEOF
)
        case $reply in
        *"error_description=\"truncated\""*) ok "$label: head ended after a pause refused as truncated" ;;
        *) fail "$label: a head ended after a pause was not refused as truncated: $(printf %s "$reply" | head -c 200)" ;;
        esac
        reply=$(client "$addr" --send "GET / HTTP/1.1\nHost: x\nAuthorization: Bearer $TOKEN\n\n" --no-shut)
        case $reply in
        *"error_description=\"malformed\""*) ok "$label: a head with LF-only line ends refused as malformed" ;;
        *) fail "$label: a head with LF-only line ends: $(printf %s "$reply" | head -c 200)" ;;
        esac
        [ ! -e "$T/out/env" ] || fail "$label: the service ran for a refused request"
        if [[ $label == */tcp ]]; then
                # A head sent a byte per segment makes every peek walk all
                # the segments so far: refused once they hold 64 KiB of
                # receive memory. One written a line per segment passes.
                : > "$LOG"
                "$PY" - "$addr" "$TOKEN" > "$T/frag.out" <<'PYEOF' || fail "$label: fragment client: $(cat "$T/frag.out")"
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
def conn():
    s = socket.create_connection((host, int(port)))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(10)
    return s
def reply(s):
    try:
        return s.recv(4096).split(b"\r\n")[0].decode()
    except OSError as e:
        return "error %s" % e
s = conn()
s.send(b"GET / HTTP/1.1\r\nX: ")
try:
    for _ in range(4000):       # paced, or the kernel merges the segments
        s.send(b"a")
        time.sleep(0.0005)
except OSError:
    pass
print("bytes:", reply(s))
s = conn()
lines = [b"GET / HTTP/1.1\r\n", b"Host: x\r\n"] + [b"X-Pad-%d: %s\r\n" % (i, b"v" * 20) for i in range(40)]
for l in lines + [b"Authorization: Bearer " + sys.argv[2].encode() + b"\r\n", b"\r\n"]:
    s.send(l)
    time.sleep(0.002)
s.shutdown(socket.SHUT_WR)
print("lines:", reply(s))
PYEOF
                grep -q "bytes: HTTP/1.1 401" "$T/frag.out" || fail "$label: a byte-per-segment head: $(cat "$T/frag.out")"
                grep -q "request head sent in too many small pieces" "$LOG" || { cat "$T/frag.out" "$LOG"; fail "$label: no log line for the fragmented head"; }
                grep -q "lines: served" "$T/frag.out" || fail "$label: a line-per-segment head: $(cat "$T/frag.out")"
                ok "$label: a head in 4000 one-byte segments refused, one in 43 line segments admitted"
        fi
        stop_ssa
done
# On AF_UNIX, poll says "readable" for as long as any byte is queued, so
# the gate looks again for more of a head on a timer. strace counts how
# often while a silent client is held for the 3 s timeout: the gate must
# ask the kernel for the queue's length (FIONREAD) less and less often,
# and peek the head only when it has grown, here once. (LeakSanitizer
# cannot run in a traced process: off for these gates.)
if command -v strace >/dev/null; then
        saved_env=("${SSA_ENV[@]}")
        SSA_ENV=(-E "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")
        for e in "${saved_env[@]}"; do [[ $e == -E || $e == ASAN_OPTIONS=* ]] || SSA_ENV+=(-E "$e"); done
        for style in "fd3/unix:$T/silent.sock:-a" "long-lived/unix:$T/silent2.sock:"; do
                label=${style%%:*}; rest=${style#*:}; opt=${rest##*:}; addr=${rest%:*}
                : > "$LOG"
                start_ssa "$LOG" "$addr" $opt -- -a "$AUD" --trust "$T/keys/k1.jwks" --mode http --timeout 3 -- "$T/svc.sh"
                strace -f -qq -p "$SSA_PID" -e trace=recvfrom,ioctl -o "$T/peeks" &
                tracer=$!
                sleep 1
                reply=$(client "$addr" --send "GET / HTTP/1.1\r\nHost: x\r\n" --no-shut)
                kill "$tracer"; wait "$tracer" 2>/dev/null || true
                case $reply in
                "HTTP/1.1 401 Unauthorized"*"error_description=\"timeout\""*) ;;
                *) fail "$label: an unfinished head did not time out: $(printf %s "$reply" | head -c 200)" ;;
                esac
                peeks=$(grep -c 'MSG_PEEK' "$T/peeks" || true)
                looks=$(grep -c 'FIONREAD' "$T/peeks" || true)
                [ "$peeks" -ge 1 ] && [ "$peeks" -le 2 ] ||
                        fail "$label: a silent head was peeked $peeks times in 3 s, expected once: $(head -c 2000 "$T/peeks")"
                [ "$looks" -le 24 ] || fail "$label: the gate looked at a silent head $looks times in 3 s, expected 24 at most"
                ok "$label: a silent head peeked $peeks time(s), its queue looked at $looks times in 3 s"
                stop_ssa
        done
        SSA_ENV=("${saved_env[@]}")
else
        echo "skip: how often a silent head on a Unix socket is looked at (no strace)"
fi

# A refused request whose body the gate never read: the client gets the
# whole 401 and then a clean end of stream, never a reset, because the gate
# reads and discards the rest before it closes. The client sends its head
# and a body at once and keeps its side open; once the gate has let go of
# the connection (its socket is gone or has no owner left in
# /proc/net/tcp), the client's socket must not have been reset.
cat > "$T/rst.py" <<'PY'
import socket, sys, time
port, token = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(30)
head = f"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: 10000\r\n\r\n"
s.sendall(head.encode() + b"b" * 10000)
out = b""
try:
    while True:
        b = s.recv(65536)
        if not b: break
        out += b
except ConnectionResetError:
    print("reset while reading"); sys.exit(0)
hdr, _, body = out.partition(b"\r\n\r\n")
length = [int(l.split(b":")[1]) for l in hdr.split(b"\r\n") if l.lower().startswith(b"content-length:")]
if not hdr.startswith(b"HTTP/1.1 401 ") or not length or len(body) != length[0]:
    print("incomplete reply: %r" % out[:200]); sys.exit(0)
me = s.getsockname()[1]
def gate_side():
    # The gate's end: local port `port`, remote port ours; inode 0 once
    # no process holds it any more.
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        f = line.split()
        if int(f[1].split(":")[1], 16) == port and int(f[2].split(":")[1], 16) == me:
            return int(f[9])
    return None
for _ in range(600):
    inode = gate_side()
    if inode is None or inode == 0: break
    time.sleep(0.05)
else:
    print("the gate never closed the connection"); sys.exit(0)
state = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
print("reset" if state == 7 or err else "clean eof")
PY
BAD=$(mint k1 --iss "$ISS" --aud other)
for style in "per-connection:-a --inetd" "fd3:-a" "long-lived:"; do
        label=${style%%:*}; opt=${style#*:}
        PORT=$(free_port)
        : > "$LOG"
        start_ssa "$LOG" "127.0.0.1:$PORT" $opt -- -a "$AUD" --trust "$T/keys/k1.jwks" --mode http --timeout 3 -- "$T/svc.sh"
        got=$("$PY" "$T/rst.py" "$PORT" "$BAD")
        [ "$got" = "clean eof" ] || fail "$label: a refused request with an unread body: $got"
        ok "$label/tcp: 401 with an unread body, then a clean end of stream (no reset)"
        stop_ssa
done
echo "all gate http-mode checks passed"
