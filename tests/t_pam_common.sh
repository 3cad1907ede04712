# SPDX-License-Identifier: MIT
# Shared setup for the tests/t_pam_*.sh scripts; sourced, not run (the file
# is deliberately not executable, so tests/run.sh skips it).
#
# Provides: $T (temp dir, 0755, removed on exit; add commands to
# EXTRA_CLEANUP), $MODULE, $PY (Debian's python3 with python3-jwt),
# $TRUST (a trust dir with one issuer, $ISS), mint, pam_preload (what a
# process must LD_PRELOAD to load a sanitizer build of the module), and
# skip/fail/ok.
#
# pam_svcid trusts only root-owned files that nobody else can write, so
# every PAM test needs root; without it they skip.

. "$(dirname "${BASH_SOURCE[0]}")/t_common.sh"
MODULE=$SVCID_BUILD/pam_svcid.so
ISS=svcid://pam-test.example

[ -f "$MODULE" ] || fail "$MODULE not built"
[ "$(id -u)" -eq 0 ] || skip "pam_svcid trusts only root-owned files: needs root"
# A test that sets PAM_TEST_PRIVATE_MOUNTS=1 before sourcing runs in its own
# mount namespace: what it mounts (a private /dev with a syslog socket, a
# private /etc/pam.d/su) is gone when it ends, and nobody else sees it.
if [ -n "${PAM_TEST_PRIVATE_MOUNTS:-}" ] && [ -z "${SVCID_PAM_NS:-}" ]; then
        command -v unshare >/dev/null || skip "unshare (util-linux) not installed"
        exec unshare --mount --propagation private env SVCID_PAM_NS=1 bash "$0"
fi
"$PY" -c 'import jwt, cryptography' 2>/dev/null || skip "/usr/bin/python3 lacks python3-jwt / python3-cryptography"

test_tmpdir pam

# A sanitizer build of the module needs its runtimes loaded first into the
# (uninstrumented) PAM application.
pam_preload() {
        ldd "$MODULE" | awk '/lib(asan|ubsan)\.so/ { printf "%s ", $3 }'
}

cat > "$T/mint.py" <<'PY'
# keygen DIR ISS: an ES256 key (DIR/key.pem) and its JWKS (DIR/ISS.jwks).
# token DIR ISS SUB AUD [--ttl S] [--iat-offset S] [--extra JSON]
#       [--pad-to N]: a signed token; --pad-to adds a "pad" claim so the
#       token is the longest one not longer than N bytes.
import argparse, json, os, sys, time
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
sys.path.insert(0, os.path.join(os.environ.get("SVCID_SRC", "."), "tests/interop"))
from testkeys import b64u, p256_jwk

p = argparse.ArgumentParser()
p.add_argument("cmd")
p.add_argument("dir")
p.add_argument("iss")
p.add_argument("sub", nargs="?")
p.add_argument("aud", nargs="?")
p.add_argument("--ttl", type=int, default=300)
p.add_argument("--iat-offset", type=int, default=0)
p.add_argument("--extra", default="{}")
p.add_argument("--pad-to", type=int, default=0)
p.add_argument("--name", default=None)
a = p.parse_args()
name = a.name or "".join(c if c.isalnum() else "_" for c in a.iss)

if a.cmd == "keygen":
    key = ec.generate_private_key(ec.SECP256R1())
    with open(os.path.join(a.dir, name + ".pem"), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(os.path.join(a.dir, name + ".jwks"), "w") as f:
        json.dump({"iss": a.iss, "keys": [p256_jwk(key.public_key())]}, f)
    sys.exit(0)

with open(os.path.join(a.dir, name + ".pem"), "rb") as f:
    key = serialization.load_pem_private_key(f.read(), None)
kid = p256_jwk(key.public_key())["kid"]
now = int(time.time()) + a.iat_offset
claims = {"iss": a.iss, "sub": a.sub, "aud": a.aud, "iat": now, "exp": now + a.ttl,
          "jti": b64u(os.urandom(16)), "uid": 1000, "gid": 1000}
claims.update(json.loads(a.extra))

def sign(c):
    return jwt.encode(c, key, algorithm="ES256", headers={"kid": kid, "typ": "JWT"})

tok = sign(claims)
if a.pad_to:
    if len(tok) > a.pad_to:
        sys.exit("token already longer than --pad-to")
    best = tok
    for n in range(1, a.pad_to):
        c = dict(claims, pad="x" * n)
        t = sign(c)
        if len(t) > a.pad_to:
            break
        best = t
    tok = best
print(tok)
PY

mkdir -p "$T/keys" "$T/trust"
chmod 700 "$T/keys"
"$PY" "$T/mint.py" keygen "$T/keys" "$ISS" || fail "keygen"
"$PY" "$T/mint.py" keygen "$T/keys" svcid://untrusted.example || fail "keygen"
install -m 0644 "$T/keys/$(echo "$ISS" | sed 's/[^[:alnum:]]/_/g').jwks" "$T/trust/test.jwks"
TRUST=$T/trust

# mint SUB AUD [options]: a token from the trusted issuer.
mint() { "$PY" "$T/mint.py" token "$T/keys" "$ISS" "$@"; }
# mint_untrusted SUB AUD [options]: a token from an issuer nobody trusts.
mint_untrusted() { "$PY" "$T/mint.py" token "$T/keys" svcid://untrusted.example "$@"; }

# private_syslog: (in the private mount namespace) /dev becomes a copy of
# itself with a /dev/log socket whose messages land in $LOG, so pam_syslog
# audit lines of real PAM applications can be read without a syslog daemon.
private_syslog() {
        local n d
        mkdir "$T/dev"
        mount -t tmpfs -o mode=0755 tmpfs "$T/dev"
        for n in null zero full random urandom tty; do
                [ -e "/dev/$n" ] || continue
                touch "$T/dev/$n"
                mount --bind "/dev/$n" "$T/dev/$n"
        done
        for d in pts shm; do
                [ -d "/dev/$d" ] || continue
                mkdir "$T/dev/$d"
                mount --bind "/dev/$d" "$T/dev/$d"
        done
        # /dev/ptmx finds its devpts instance through the "pts" beside it,
        # which a bind-mounted node has not: use the instance's own ptmx.
        ln -s pts/ptmx "$T/dev/ptmx"
        ln -s /proc/self/fd "$T/dev/fd"
        ln -s /proc/self/fd/0 "$T/dev/stdin"
        ln -s /proc/self/fd/1 "$T/dev/stdout"
        ln -s /proc/self/fd/2 "$T/dev/stderr"
        LOG=$T/syslog
        : > "$LOG"
        "$PY" - "$T/dev/log" "$LOG" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        out.write(s.recv(65536).rstrip(b"\0\n") + b"\n")
PY
        EXTRA_CLEANUP+=("kill $!")
        for _ in $(seq 100); do [ -S "$T/dev/log" ] && break; sleep 0.1; done
        [ -S "$T/dev/log" ] || fail "syslog listener did not start"
        mount --rbind "$T/dev" /dev
        EXTRA_CLEANUP+=("umount -l /dev" "umount -R -l '$T/dev'")
}

# log_has PATTERN: the syslog has a line matching PATTERN (a grep pattern),
# waiting for it up to 5 s: the listener writes each line a moment after
# the application sent it.
log_has() {
        for _ in $(seq 50); do grep -q -- "$1" "$LOG" && return 0; sleep 0.1; done
        return 1
}

# pam_stack FILE AUDIENCE [session]: the man page's stack for su and sudo
# (the token from SVCID_TOKEN or the prompt), with the test's trust, and
# the module's session line if asked. Written in place: FILE may already
# be bind-mounted over the service's file.
pam_stack() {
        {
                echo "# svcid test stack, private to this test's namespace."
                echo "auth     [success=done default=ignore]           $MODULE audience=$2 trust=$TRUST token=env,authtok"
                echo "auth     requisite                               pam_deny.so"
                echo "account  [success=ok ignore=ignore module_unknown=ignore default=bad]  $MODULE"
                echo "account  required                                pam_permit.so"
                [ "${3:-}" != session ] || echo "session  optional                                $MODULE"
                echo "session  required                                pam_permit.so"
        } > "$1"
}

# pam_expect WHAT OUTCOME RAN AUDIT CMD...: runs CMD, a PAM application
# that leaves what its command printed in $T/out (after private_syslog).
# OUTCOME "ok": CMD succeeds, $T/out matches the grep pattern RAN, and the
# syslog has "accepted: reason=ok " followed by the pattern AUDIT.
# OUTCOME a reason word: CMD fails, $T/out does not match RAN (the command
# did not run), and the syslog has "refused: reason=OUTCOME " then AUDIT.
# The test defines show() to print what it has on a failure.
pam_expect() {
        local what=$1 outcome=$2 ran=$3 audit=$4
        shift 4
        : > "$LOG"
        if [ "$outcome" = ok ]; then
                "$@" || { show; fail "$what: refused"; }
                grep -q -- "$ran" "$T/out" || { show; fail "$what: the command did not run as it should"; }
                log_has "accepted: reason=ok $audit" || { show; fail "$what: no audit line"; }
                ok "$what"
                return
        fi
        if "$@"; then show; fail "$what: accepted"; fi
        grep -q -- "$ran" "$T/out" && { show; fail "$what: the command ran"; }
        log_has "refused: reason=$outcome $audit" ||
                { show; fail "$what: no audit line with reason=$outcome"; }
        ok "$what: refused, audit reason=$outcome"
}
