# SPDX-License-Identifier: MIT
# Shared setup for the tests/t_gate_*.sh scripts; sourced, not run (the file
# is deliberately not executable, so tests/run.sh skips it).
#
# Provides: $T (temp dir, removed on exit), $GATE, $PY (Debian's python3
# with python3-jwt), mint helpers, a recording service, a socket client, and
# start_ssa/stop_ssa for systemd-socket-activate.

. "$(dirname "${BASH_SOURCE[0]}")/t_common.sh"
GATE=$SVCID_BUILD/svcid-gate

[ -x "$GATE" ] || fail "$GATE not built"
command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate not installed"
"$PY" -c 'import jwt, cryptography' 2>/dev/null || skip "/usr/bin/python3 lacks python3-jwt / python3-cryptography"

test_tmpdir gate

cat > "$T/mint.py" <<'PY'
import argparse, json, os, sys, time
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
sys.path.insert(0, os.path.join(os.environ.get("SVCID_SRC", "."), "tests/interop"))
from testkeys import b64u, p256_jwk

ap = argparse.ArgumentParser()
sub = ap.add_subparsers(dest="cmd", required=True)
k = sub.add_parser("keygen")
k.add_argument("name"); k.add_argument("iss"); k.add_argument("--dir", required=True)
t = sub.add_parser("token")
t.add_argument("name"); t.add_argument("--dir", required=True)
t.add_argument("--iss", required=True); t.add_argument("--aud", required=True)
t.add_argument("--sub", default="alice"); t.add_argument("--ttl", type=int, default=300)
t.add_argument("--iat-offset", type=int, default=0)
t.add_argument("--uid", type=int); t.add_argument("--unit")
t.add_argument("--claim", action="append", default=[])
a = ap.parse_args()

if a.cmd == "keygen":
    key = ec.generate_private_key(ec.SECP256R1())
    with open(f"{a.dir}/{a.name}.pem", "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    jwk = p256_jwk(key.public_key(), kid=a.name)
    with open(f"{a.dir}/{a.name}.jwks", "w") as f:
        json.dump({"iss": a.iss, "keys": [jwk]}, f)
else:
    with open(f"{a.dir}/{a.name}.pem", "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    now = int(time.time()) + a.iat_offset
    claims = {"iss": a.iss, "sub": a.sub, "aud": a.aud, "iat": now, "exp": now + a.ttl,
              "jti": b64u(os.urandom(16))}
    if a.uid is not None: claims["uid"] = a.uid
    if a.unit: claims["unit"] = a.unit
    for c in a.claim:
        n, v = c.split("=", 1); claims[n] = v
    print(jwt.encode(claims, key, algorithm="ES256", headers={"kid": a.name, "typ": "JWT"}))
PY

# A socket client: connect, send the preamble and a payload, optionally
# half-close, print everything the other side sends until it closes.
cat > "$T/client.py" <<'PY'
import argparse, errno, os, socket, sys, time
ap = argparse.ArgumentParser()
ap.add_argument("addr")                       # /PATH (unix) | HOST:PORT
ap.add_argument("--send", default="")        # text, \n escapes honoured
ap.add_argument("--send-file")
ap.add_argument("--hold", type=float, default=0)   # seconds to stay silent first
ap.add_argument("--then", default="")        # sent --pause seconds after the rest
ap.add_argument("--pause", type=float, default=0)
ap.add_argument("--then-after")              # send --then once this file exists (60 s at most)
ap.add_argument("--no-shut", action="store_true")
ap.add_argument("--timeout", type=float, default=30)
ap.add_argument("--report-cut", action="store_true")  # print <cut> after a reset or EPIPE
ap.add_argument("--source")                    # TCP: connect from this local address
a = ap.parse_args()
cut = False
if a.addr.startswith("/"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(a.addr)
else:
    host, port = a.addr.rsplit(":", 1)
    host = host.strip("[]")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    if a.source: s.bind((a.source, 0))
    s.connect((host, int(port)))
s.settimeout(a.timeout)
if a.hold: time.sleep(a.hold)
data = a.send.encode().decode("unicode_escape").encode("latin-1")
if a.send_file:
    data += open(a.send_file, "rb").read()
try:
    if data: s.sendall(data)
    if a.then:
        time.sleep(a.pause)
        for _ in range(600 if a.then_after else 0):
            if os.path.exists(a.then_after): break
            time.sleep(0.1)
        s.sendall(a.then.encode().decode("unicode_escape").encode("latin-1"))
    if not a.no_shut: s.shutdown(socket.SHUT_WR)
except (BrokenPipeError, ConnectionResetError):
    cut = True
except OSError as e:            # a reset that came before the half-close
    if e.errno != errno.ENOTCONN: raise
    cut = True
out = b""
try:
    while True:
        b = s.recv(65536)
        if not b: break
        out += b
except ConnectionResetError:
    cut = True
except socket.timeout:
    pass
sys.stdout.buffer.write(out)
if a.report_cut and cut:
    sys.stdout.write("<cut>")
PY

# drain_check SOCK: a client refused at once (a malformed preamble) that
# keeps sending is drained for GATE_DRAIN_MAX (1 MiB) at most, then cut:
# its sends fail, it still reads its refusal, and it got no more sent
# than the 1 MiB and what the socket buffers hold. Sets DRAIN_SENT.
cat > "$T/drain.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(30)
s.sendall(b"SVCID1 x\n")                   # malformed: refused at once
chunk, sent, cut = b"\0" * 65536, 0, False
try:
    while sent < 64 << 20:
        sent += s.send(chunk)
except (BrokenPipeError, ConnectionResetError):
    cut = True
reply = b""
try:
    while True:
        d = s.recv(4096)
        if not d: break
        reply += d
except (ConnectionResetError, socket.timeout):
    pass
print(sent, "cut" if cut else "not-cut", repr(reply))
PY
drain_check() {
        local how reply
        read -r DRAIN_SENT how reply < <("$PY" "$T/drain.py" "$1")
        echo "  a refused client streaming 64 MiB: $DRAIN_SENT bytes sent, $how, reply $reply"
        [ "$how" = cut ] || fail "drain cap: a refused client could send all $DRAIN_SENT bytes"
        [ "$reply" = "b'SVCID1 ERR malformed\\n'" ] || fail "drain cap: the refused client got $reply, not its refusal"
        [ "$DRAIN_SENT" -le $((2 * 1024 * 1024)) ] ||
                fail "drain cap: a refused client sent $DRAIN_SENT bytes before it was cut, over 1 MiB and the buffers"
}

mkdir -p "$T/out" "$T/keys"
# The service behind the gate: records its environment and descriptors,
# stores what it reads, and answers "served". A SIGTERM is recorded in
# out/term and the service carries on, as one that finishes its work when
# asked to stop.
cat > "$T/svc.sh" <<EOF2
#!$PY
import os, signal, sys
o = "$T/out"
signal.signal(signal.SIGTERM, lambda *_: open(o + "/term", "a").write(f"{os.getpid()}\\n"))
fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))
fds = [f for f in fds if os.path.exists(f"/proc/self/fd/{f}")]   # drops listdir's own
links = [os.readlink(f"/proc/self/fd/{f}") for f in (0, 1, 3)]
tmp = f".tmp.{os.getpid()}"   # services may run side by side
with open(o + "/env" + tmp, "w") as f:
    for k in sorted(os.environ):
        if k.startswith(("SVCID_", "LISTEN_")):
            f.write(f"{k}={os.environ[k]}\\n")
    f.write(f"SELF_PID={os.getpid()}\\n")
with open(o + "/fds" + tmp, "w") as f:
    f.write("\\n".join(links) + "\\n")
with open(o + "/allfds" + tmp, "w") as f:
    f.write(" ".join(map(str, fds)) + " ")
for n in ("fds", "allfds", "env"):
    os.rename(o + "/" + n + tmp, o + "/" + n)
with open(o + "/data" + tmp, "wb") as f:
    while True:
        b = os.read(0, 65536)
        if not b: break
        f.write(b)
os.rename(o + "/data" + tmp, o + "/data")
os.write(1, b"served\\n")
EOF2
chmod 755 "$T/svc.sh"

keygen() { "$PY" "$T/mint.py" keygen "$1" "$2" --dir "$T/keys"; }
mint() { "$PY" "$T/mint.py" token "$@" --dir "$T/keys"; }

free_port() {
        "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_ssa LOG ADDR [ssa options] -- gate args...: starts
# systemd-socket-activate in the background and waits for the socket.
start_ssa() {
        local log=$1 addr=$2; shift 2
        local ssa_opts=()
        while [ "$1" != "--" ]; do ssa_opts+=("$1"); shift; done
        shift
        SSA_LOG=$log
        systemd-socket-activate -l "$addr" "${ssa_opts[@]}" "${SSA_ENV[@]}" "$GATE" "$@" 2>>"$log" &
        SSA_PID=$!
        BG_PIDS+=("$SSA_PID")
        local i
        for i in $(seq 100); do
                case $addr in
                /*) [ -S "$addr" ] && return 0 ;;
                *) "$PY" -c "import socket,sys; h,p='$addr'.rsplit(':',1); h=h.strip('[]'); s=socket.socket(socket.AF_INET6 if ':' in h else socket.AF_INET); s.settimeout(1); sys.exit(s.connect_ex((h,int(p))))" 2>/dev/null && return 0 ;;
                esac
                sleep 0.1
        done
        fail "systemd-socket-activate on $addr did not come up"
}

# Also fails on any sanitizer report in the gate's log (SANITIZE=1 builds:
# a refused connection's gate exits normally, so a leak report there would
# otherwise go unnoticed).
stop_ssa() {
        kill "$SSA_PID" 2>/dev/null || true
        wait "$SSA_PID" 2>/dev/null || true
        if [ -n "${SSA_LOG:-}" ] && grep -E "Sanitizer|runtime error" "$SSA_LOG"; then
                fail "sanitizer report in the gate's log"
        fi
}

# client ADDR [client options]: prints the reply.
client() { "$PY" "$T/client.py" "$@"; }

# wait_for FILE: bounded wait for the service to write FILE.
wait_for() {
        local i
        for i in $(seq 200); do [ -e "$1" ] && return 0; sleep 0.05; done
        return 1
}

reset_out() { rm -f "$T/out/"*; }
