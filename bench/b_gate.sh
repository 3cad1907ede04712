#!/bin/bash
# SPDX-License-Identifier: MIT
# svcid-gate's cost per connection. A trivial service (/bin/true) behind
# systemd-socket-activate, in the same run:
#   direct         systemd-socket-activate -a /bin/true (the baseline)
#   per_connection systemd-socket-activate -a svcid-gate ... -- /bin/true
#   long_lived     systemd-socket-activate svcid-gate ... -- /bin/true
#   small_exec     systemd-socket-activate -a EXEC /bin/true, EXEC a C program
#                  that only execs its arguments
#   libcrypto_exec the same program linked with libcrypto and jansson, as
#                  the gate is
# One client connects over AF_UNIX again and again (the gate cases send a
# line-mode preamble with a valid ES256 token) and waits for the close.
# Prints connections/s for each, and the time the gate adds per connection.
# The machine may be shared: every case runs in ROUNDS short rounds,
# interleaved, and keeps its best round (the least disturbed).
# Goals: per-connection style <= 1 ms, long-lived <= 0.2 ms. The two exec
# cases show where the per-connection figure's floor lies on this machine:
# what one more program start costs, and what loading OpenSSL adds to it
# (a gate that did no work at all would still cost the latter).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${SVCID_BUILD:=$PWD/build}"
GATE=$SVCID_BUILD/svcid-gate
PY=/usr/bin/python3
SECONDS_EACH=${GATE_BENCH_SECONDS:-1}
ROUNDS=${GATE_BENCH_ROUNDS:-3}

[ -x "$GATE" ] || { echo "b_gate: $GATE not built" >&2; exit 1; }
command -v systemd-socket-activate >/dev/null || { echo "b_gate: systemd-socket-activate missing" >&2; exit 77; }
"$PY" -c 'import jwt, cryptography' 2>/dev/null || { echo "b_gate: /usr/bin/python3 lacks python3-jwt" >&2; exit 77; }
TRUE=$(command -v true)
case $TRUE in /*) ;; *) TRUE=/bin/true ;; esac

T=$(mktemp -d /tmp/svcid-gate-bench.XXXXXX)
PIDS=()
cleanup() {
        local p
        for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
        for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
        rm -rf "$T"
}
trap cleanup EXIT

TOKEN=$("$PY" - "$T" <<'PY'
import json, sys, time, os
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
sys.path.insert(0, os.path.join(os.environ.get("SVCID_SRC", "."), "tests/interop"))
from testkeys import b64u, p256_jwk
d = sys.argv[1]
key = ec.generate_private_key(ec.SECP256R1())
with open(f"{d}/trust.jwks", "w") as f:
    json.dump({"iss": "svcid://bench.example", "keys": [p256_jwk(key.public_key(), kid="bench")]}, f)
now = int(time.time())
print(jwt.encode({"iss": "svcid://bench.example", "sub": "bench", "aud": "bench", "iat": now,
                  "exp": now + 1800, "jti": b64u(os.urandom(16)),
                  "uid": os.getuid()}, key, algorithm="ES256", headers={"kid": "bench", "typ": "JWT"}))
PY
)

cat > "$T/client.py" <<'PY'
import socket, sys, time
path, seconds, preamble = sys.argv[1], float(sys.argv[2]), sys.argv[3].encode()
def once():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    if preamble:
        s.sendall(preamble)
    got = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        got += b
    s.close()
    if got:
        sys.exit(f"b_gate: connection refused or answered: {got[:80]!r}")
for _ in range(20):          # warm-up: page cache, first exec
    once()
n, t0 = 0, time.perf_counter()
while time.perf_counter() - t0 < seconds:
    once()
    n += 1
print(f"{n / (time.perf_counter() - t0):.1f}")
PY

# run NAME [ssa options] -- command...: prints connections/s
run() {
        local name=$1; shift
        local opts=()
        while [ "$1" != "--" ]; do opts+=("$1"); shift; done
        shift
        local sock=$T/$name.sock pre=""
        systemd-socket-activate -l "$sock" "${opts[@]}" "$@" 2>/dev/null &
        local pid=$!
        PIDS+=("$pid")
        for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
        case $name in per_connection|long_lived) pre="SVCID1 $TOKEN"$'\n' ;; esac
        "$PY" "$T/client.py" "$sock" "$SECONDS_EACH" "$pre"
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
}

# The floor programs: exec argv[1..] and nothing else. The OpenSSL one
# names a libcrypto and a jansson function so that --as-needed keeps both.
cat > "$T/exec.c" <<'C'
#include <unistd.h>
#ifdef WITH_LIBS
#include <jansson.h>
#include <openssl/crypto.h>
#endif
extern char **environ;
int main(int argc, char **argv) {
#ifdef WITH_LIBS
        if (argc < 0) { OPENSSL_init_crypto(0, NULL); json_null(); }
#endif
        if (argc > 1) execve(argv[1], argv + 1, environ);
        return 127;
}
C
CC=${CC:-cc}
floors=0
if "$CC" -O2 -pie -fPIE -Wl,-z,relro,-z,now -o "$T/exec_small" "$T/exec.c" 2>/dev/null &&
   "$CC" -O2 -pie -fPIE -DWITH_LIBS -Wl,-z,relro,-z,now -Wl,--as-needed -o "$T/exec_libcrypto" \
        "$T/exec.c" -lcrypto -ljansson 2>/dev/null; then
        floors=1
else
        echo "b_gate: cannot build the exec floor programs with $CC: their figures are left out" >&2
fi

GATE_ARGS=(-a bench --trust "$T/trust.jwks" --log-target stderr --)
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (b > a ? b : a) }'; }
direct=0 per=0 long=0 small=0 libcrypto=0
for _ in $(seq "$ROUNDS"); do
        direct=$(best "$direct" "$(run direct -a -- "$TRUE")")
        per=$(best "$per" "$(run per_connection -a -- "$GATE" "${GATE_ARGS[@]}" "$TRUE")")
        long=$(best "$long" "$(run long_lived -- "$GATE" "${GATE_ARGS[@]}" "$TRUE")")
        if [ "$floors" = 1 ]; then
                small=$(best "$small" "$(run small_exec -a -- "$T/exec_small" "$TRUE")")
                libcrypto=$(best "$libcrypto" "$(run libcrypto_exec -a -- "$T/exec_libcrypto" "$TRUE")")
        fi
done

added() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", 1000 / a - 1000 / b }'; }
per_ms=$(added "$per" "$direct")
long_ms=$(added "$long" "$direct")

echo "BENCH gate_direct_conn_per_s $direct conn/s"
echo "BENCH gate_per_connection_conn_per_s $per conn/s"
echo "BENCH gate_per_connection_added_ms $per_ms ms"
echo "BENCH gate_long_lived_conn_per_s $long conn/s"
echo "BENCH gate_long_lived_added_ms $long_ms ms"
if [ "$floors" = 1 ]; then
        echo "BENCH gate_small_exec_added_ms $(added "$small" "$direct") ms"
        echo "BENCH gate_libcrypto_exec_added_ms $(added "$libcrypto" "$direct") ms"
        echo "b_gate: the per-connection gate's own work (above a start that loads OpenSSL): $(added "$per" "$libcrypto") ms" >&2
fi
awk -v p="$per_ms" -v l="$long_ms" 'BEGIN {
        printf "b_gate: per-connection style adds %.3f ms per connection (goal <= 1 ms): %s\n", p, p <= 1 ? "met" : "NOT met"
        printf "b_gate: long-lived style adds %.3f ms per connection (goal <= 0.2 ms): %s\n", l, l <= 0.2 ? "met" : "NOT met"
}' >&2
