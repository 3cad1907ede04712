#!/bin/bash
# SPDX-License-Identifier: MIT
# svcid-gate and OpenSSL's configuration: the system openssl.cnf is not read
# (it costs every per-connection start and asks for nothing the gate uses);
# a file named by $OPENSSL_CONF is, and one that does not load, or does
# not exist, stops the gate before it judges anything (fail closed).
set -euo pipefail
. "$(dirname "$0")/t_gate_common.sh"

ISS=svcid://gate-openssl.example
AUD=gate-openssl
keygen k1 "$ISS"
TOKEN=$(mint k1 --iss "$ISS" --aud "$AUD")
LOG=$T/gate.log
SOCK=$T/gate.sock

# Activates the default provider explicitly, as a FIPS setup would its own.
cat > "$T/good.cnf" <<'EOF'
config_diagnostics = 1
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
[default_sect]
activate = 1
EOF
# A module OpenSSL cannot load: with config_diagnostics, a start-up failure.
cat > "$T/bad.cnf" <<'EOF'
config_diagnostics = 1
openssl_conf = openssl_init
[openssl_init]
svcid_test_no_such_module = nothing_sect
[nothing_sect]
x = 1
EOF

# Loads, but activates only the base provider, which has no key types:
# the trust cannot load, and the log says why (not "out of memory").
cat > "$T/base.cnf" <<'EOF'
config_diagnostics = 1
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
base = base_sect
[base_sect]
activate = 1
EOF

GATE_ARGS=(-a "$AUD" --trust "$T/keys/k1.jwks" --timeout 2 -- "$T/svc.sh")

admits() {  # LABEL ssa-options...
        local label=$1 reply; shift
        : > "$LOG"
        reset_out
        start_ssa "$LOG" "$SOCK" "$@" -- "${GATE_ARGS[@]}"
        reply=$(client "$SOCK" --send "SVCID1 $TOKEN\n")
        stop_ssa
        [ "$reply" = served ] || fail "$label: reply was '$reply', not 'served' ($(cat "$LOG"))"
        ok "$label: admitted"
}

closes() {  # LABEL LOGGED ssa-options...
        local label=$1 logged=$2 reply; shift 2
        : > "$LOG"
        reset_out
        start_ssa "$LOG" "$SOCK" "$@" -- "${GATE_ARGS[@]}"
        reply=$(client "$SOCK" --send "SVCID1 $TOKEN\n" --timeout 10)
        # The long-lived gate exits on the error: wait for it to say so.
        for _ in $(seq 100); do grep -qF "$logged" "$LOG" && break; sleep 0.05; done
        stop_ssa
        [ -z "$reply" ] || fail "$label: the client got '$reply' instead of a closed connection"
        [ ! -e "$T/out/env" ] || fail "$label: the service ran"
        grep -qF "$logged" "$LOG" || fail "$label: '$logged' not logged: $(cat "$LOG")"
        ok "$label: connection closed, service not run, error logged"
}

admits "no OPENSSL_CONF" -a
admits "OPENSSL_CONF naming a good file" -a -E "OPENSSL_CONF=$T/good.cnf"
NO_CONF='cannot load the OpenSSL configuration'
NO_KEYS='key 0 is not a usable signature key: OpenSSL has no EC keys: no provider loaded offers them'
closes "per-connection, OPENSSL_CONF that does not load" "$NO_CONF" -a -E "OPENSSL_CONF=$T/bad.cnf"
closes "per-connection, OPENSSL_CONF naming no file" "$NO_CONF" -a -E "OPENSSL_CONF=$T/missing.cnf"
closes "long-lived, OPENSSL_CONF that does not load" "$NO_CONF" -E "OPENSSL_CONF=$T/bad.cnf"
closes "per-connection, OPENSSL_CONF with no provider of EC keys" "$NO_KEYS" -a -E "OPENSSL_CONF=$T/base.cnf"
closes "long-lived, OPENSSL_CONF with no provider of EC keys" "$NO_KEYS" -E "OPENSSL_CONF=$T/base.cnf"
admits "long-lived, OPENSSL_CONF naming a good file" -E "OPENSSL_CONF=$T/good.cnf"

# systemd keeps the listening socket across the long-lived gate's failed
# start: the gate must leave it as it was, or every connection accepted
# from it later would inherit what the failure set (SO_LINGER 0: each
# close a reset, cutting off what the service still had to send).
cat > "$T/held.py" <<'PY'
import os, socket, struct, subprocess, sys
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.bind(("127.0.0.1", 0)); l.listen(8)
if l.fileno() != 3:
    os.dup2(l.fileno(), 3)
c = socket.create_connection(l.getsockname())      # waiting when the gate starts
env = dict(os.environ, LISTEN_FDS="1")
p = subprocess.Popen(["sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh"] + sys.argv[1:], pass_fds=[3], env=env)
rc = p.wait()
print(rc, struct.unpack("ii", l.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)))
PY
OPENSSL_CONF=$T/bad.cnf "$PY" "$T/held.py" "$GATE" "${GATE_ARGS[@]}" > "$T/held.out" 2>>"$LOG" ||
        fail "the held-listener helper failed: $(cat "$LOG")"
[ "$(cat "$T/held.out")" = "2 (0, 0)" ] ||
        fail "after a failed OpenSSL start the listener holds (rc, SO_LINGER) $(cat "$T/held.out"), not 2 (0, 0)"
ok "long-lived, OPENSSL_CONF that does not load: the listening socket systemd keeps is left as it was"

# Which files the gate opens, with the connection on stdin (inetd style).
cat > "$T/pair.py" <<'PY'
import socket, subprocess, sys
a, b = socket.socketpair()
a.sendall(sys.argv[1].encode() + b"\n")
p = subprocess.Popen(sys.argv[2:], stdin=b, stdout=b)
b.close()
a.shutdown(socket.SHUT_WR)
out = b""
while True:
    d = a.recv(4096)
    if not d:
        break
    out += d
sys.exit(0 if p.wait() == 0 and out == b"served\n" else 1)
PY
if ! command -v strace >/dev/null; then
        echo "note: strace missing, the files the gate opens are not checked"
elif ! strace -o /dev/null true 2>/dev/null; then
        echo "note: ptrace not allowed here, the files the gate opens are not checked"
else
        cnf=$(openssl version -d 2>/dev/null | sed 's/^OPENSSLDIR: "\(.*\)"$/\1/') || cnf=""
        cnf=${cnf:-OPENSSLDIR}/openssl.cnf
        reset_out
        env -u OPENSSL_CONF strace -f -qq -e trace=open,openat -o "$T/open.log" \
                "$PY" "$T/pair.py" "SVCID1 $TOKEN" "$GATE" "${GATE_ARGS[@]}" 2>"$LOG" ||
                fail "inetd style under strace: not admitted: $(cat "$LOG")"
        ! grep -q 'openssl\.cnf' "$T/open.log" || fail "the gate read $(grep -o '"[^"]*openssl\.cnf"' "$T/open.log")"
        ok "without OPENSSL_CONF, $cnf is never opened"
        reset_out
        OPENSSL_CONF=$T/good.cnf strace -f -qq -e trace=open,openat -o "$T/open.log" \
                "$PY" "$T/pair.py" "SVCID1 $TOKEN" "$GATE" "${GATE_ARGS[@]}" 2>"$LOG" ||
                fail "inetd style with OPENSSL_CONF under strace: not admitted: $(cat "$LOG")"
        grep -q "\"$T/good.cnf\"" "$T/open.log" || fail "OPENSSL_CONF=$T/good.cnf was not read"
        ok "OPENSSL_CONF names the file that is read"
fi
echo "all OpenSSL configuration checks passed"
