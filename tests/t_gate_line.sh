#!/bin/bash
# SPDX-License-Identifier: MIT
# svcid-gate, per-connection style (Accept=yes), line mode: under
# systemd-socket-activate -a with the connection on fd 3 and with --inetd,
# over AF_UNIX and TCP. A valid token admits and the service sees the right
# environment and every byte after the preamble; each bad preamble is
# refused with its reason and the service never runs.
set -euo pipefail
. "$(dirname "$0")/t_gate_common.sh"

ISS=svcid://gate-test.example
AUD=gate-test
keygen k1 "$ISS"
keygen other svcid://someone-else.example
head -c 1048576 /dev/urandom > "$T/random.bin"
LOG=$T/gate.log

TOKEN=$(mint k1 --iss "$ISS" --aud "$AUD" --sub alice --uid 4242 --unit build-stage.service --claim stage=deploy)

check_admit() {  # ADDR LABEL
        local addr=$1 label=$2 reply
        reset_out
        reply=$(client "$addr" --send "SVCID1 $TOKEN\n" --send-file "$T/random.bin")
        [ "$reply" = served ] || fail "$label: reply was '$reply', not 'served'"
        wait_for "$T/out/env" || fail "$label: the service did not run"
        grep -qx 'SVCID_SUB=alice' "$T/out/env" || fail "$label: SVCID_SUB wrong: $(cat "$T/out/env")"
        grep -qx "SVCID_ISS=$ISS" "$T/out/env" || fail "$label: SVCID_ISS wrong"
        grep -qx "SVCID_AUD=$AUD" "$T/out/env" || fail "$label: SVCID_AUD wrong"
        grep -qE '^SVCID_JTI=[A-Za-z0-9_-]{22}$' "$T/out/env" || fail "$label: SVCID_JTI wrong"
        grep -qx 'SVCID_UID=4242' "$T/out/env" || fail "$label: SVCID_UID wrong"
        grep -qx 'SVCID_UNIT=build-stage.service' "$T/out/env" || fail "$label: SVCID_UNIT wrong"
        grep -q '^SVCID_CLAIMS={.*"stage":"deploy"' "$T/out/env" || fail "$label: SVCID_CLAIMS lacks the claims"
        grep -qx 'LISTEN_FDS=1' "$T/out/env" || fail "$label: LISTEN_FDS wrong"
        local pid self
        pid=$(sed -n 's/^LISTEN_PID=//p' "$T/out/env")
        self=$(sed -n 's/^SELF_PID=//p' "$T/out/env")
        [ -n "$pid" ] && [ "$pid" = "$self" ] || fail "$label: LISTEN_PID=$pid but the service is $self"
        # stdin, stdout and fd 3 are one and the same socket.
        [ "$(sort -u "$T/out/fds" | wc -l)" = 1 ] && grep -q '^socket:' "$T/out/fds" ||
                fail "$label: fds 0/1/3 are not the connection: $(cat "$T/out/fds")"
        [ "$(cat "$T/out/allfds")" = "0 1 2 3 " ] || fail "$label: stray descriptors in the service: $(cat "$T/out/allfds")"
        cmp -s "$T/random.bin" "$T/out/data" || fail "$label: the 1 MiB after the preamble arrived altered"
        ok "$label: admitted, environment and fds right, 1 MiB intact"
}

check_refuse() {  # ADDR LABEL REASON client-args...
        local addr=$1 label=$2 reason=$3 reply; shift 3
        reset_out
        reply=$(client "$addr" "$@")
        [ "$reply" = "SVCID1 ERR $reason" ] || fail "$label: expected 'SVCID1 ERR $reason', got '$(printf %s "$reply" | head -c 200)'"
        [ ! -e "$T/out/env" ] || fail "$label: the service ran although the gate refused"
        ok "$label: refused with $reason"
}

run_suite() {  # ADDR STYLE-LABEL ssa-options...
        local addr=$1 style=$2; shift 2
        : > "$LOG"
        start_ssa "$LOG" "$addr" -a --fdname=connection "$@" -- \
                -a "$AUD" --trust "$T/keys/k1.jwks" --timeout 2 -- "$T/svc.sh"
        check_admit "$addr" "$style"

        local expired wrongaud foreign future longlife
        expired=$(mint k1 --iss "$ISS" --aud "$AUD" --iat-offset -1000 --ttl 300)
        wrongaud=$(mint k1 --iss "$ISS" --aud other-service)
        foreign=$(mint other --iss svcid://someone-else.example --aud "$AUD")
        check_refuse "$addr" "$style expired" expired --send "SVCID1 $expired\n"
        check_refuse "$addr" "$style wrong audience" wrong_audience --send "SVCID1 $wrongaud\ndata"
        check_refuse "$addr" "$style unknown issuer" unknown_issuer --send "SVCID1 $foreign\n"
        check_refuse "$addr" "$style garbage token" malformed --send "SVCID1 not.a-token\n"
        check_refuse "$addr" "$style missing preamble" no_token --send "GET / HTTP/1.0\r\n\r\n"
        check_refuse "$addr" "$style closed without preamble" no_token
        check_refuse "$addr" "$style empty token" no_token --send "SVCID1 \n"
        check_refuse "$addr" "$style cut-off preamble" truncated --send "SVCID1 ${TOKEN:0:40}"
        head -c 9000 /dev/zero | tr '\0' A > "$T/big"
        check_refuse "$addr" "$style over-size preamble" too_large --send "SVCID1 " --send-file "$T/big"
        check_refuse "$addr" "$style silent client" timeout --no-shut
        check_refuse "$addr" "$style dribbling client" timeout --hold 0 --send "SVCID1 eyJ" --no-shut
        # A bit flipped in the signature.
        local bad=${TOKEN:0:${#TOKEN}-4}AAAA
        [ "$bad" != "$TOKEN" ] || bad=${TOKEN:0:${#TOKEN}-4}AAAQ
        check_refuse "$addr" "$style bad signature" bad_signature --send "SVCID1 $bad\n"
        # Claims of a refused token are the caller's own words: logged, but
        # never able to pass for fields of the line.
        local forged
        forged=$(mint other --iss svcid://someone-else.example --aud "$AUD" \
                --claim 'jti=x peer=unix:pid=1,uid=0,gid=0' --claim 'sub=s" uid=0 x="')
        check_refuse "$addr" "$style forged fields" unknown_issuer --send "SVCID1 $forged\n"
        stop_ssa
        local line
        line=$(grep -F 'x peer=unix:pid=1' "$LOG") || fail "$style: no audit line for the forged token"
        grep -qF 'jti="x peer=unix:pid=1,uid=0,gid=0"' <<<"$line" || fail "$style: jti not quoted: $line"
        # Outside its quoted values the line has one peer= and no uid=.
        line=$(sed -E 's/"([^"\\]|\\.)*"//g' <<<"$line")
        [ "$(grep -o ' peer=' <<<"$line" | wc -l)" = 1 ] && ! grep -q ' uid=0 ' <<<"$line" ||
                fail "$style: a claim forged a field of the audit line: $line"

        grep -q 'admitted sub="alice"' "$LOG" || fail "$style: no audit line for the admission"
        grep -q 'refused reason=expired' "$LOG" || fail "$style: no audit line for a refusal"
        grep -q 'refused reason=timeout' "$LOG" || fail "$style: no audit line for the timeout"
        if grep -qF "${TOKEN##*.}" "$LOG"; then fail "$style: the audit log contains a token signature"; fi
        ok "$style: audit lines present, no token in the log"
}

PORT=$(free_port)
run_suite "$T/gate.sock" "fd3/unix"
rm -f "$T/gate.sock"
run_suite "127.0.0.1:$PORT" "fd3/tcp4"
run_suite "$T/gate2.sock" "inetd/unix" --inetd
if "$PY" -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
        PORT=$(free_port)
        run_suite "[::1]:$PORT" "inetd/tcp6" --inetd
else
        echo "note: no IPv6 loopback here, tcp6 not exercised"
fi

# Claims that become SVCID_* variables are the caller's own text: a value
# with a control character (below 0x20, or DEL) is not set at all, as
# pam_svcid does, so that a service that writes its environment to a file
# or evals it cannot be fed extra lines. SVCID_CLAIMS still carries the
# value, JSON-escaped; other bytes (UTF-8) pass unchanged.
CTL_TOKEN=$(mint k1 --iss "$ISS" --aud "$AUD" --sub $'eve\nSVCID_UID=0' --unit $'a\tb.service' \
        --claim $'jti=j\x7fk')
UTF_TOKEN=$(mint k1 --iss "$ISS" --aud "$AUD" --sub 'zoë' --unit 'ünit.service')
# In the audit line the unit is printable ASCII with '"' and '\' as '?',
# and one cut to fit ends in "...".
LONG_UNIT=$(printf 'x%.0s' {1..100})'"'$(printf 'y%.0s' {1..100}).service
LONG_TOKEN=$(mint k1 --iss "$ISS" --aud "$AUD" --sub long --unit "$LONG_UNIT")
# The issuer's name is a trust file's, and may hold one too.
keygen ktab $'svcid://tab\there.example'
TAB_TOKEN=$(mint ktab --iss $'svcid://tab\there.example' --aud "$AUD" --sub tabby)
for style in "per-connection:-a" "long-lived:"; do
        label=${style%%:*}; opt=${style#*:}
        : > "$LOG"
        start_ssa "$LOG" "$T/ctl.sock" $opt -- -a "$AUD" --trust "$T/keys/k1.jwks" --trust "$T/keys/ktab.jwks" \
                --timeout 2 -- "$T/svc.sh"
        reset_out
        reply=$(client "$T/ctl.sock" --send "SVCID1 $CTL_TOKEN\n")
        [ "$reply" = served ] || fail "$label: a token with control characters in its claims was not admitted: $reply"
        ! grep -q '^SVCID_UID=0$' "$T/out/env" || fail "$label: a newline in sub forged SVCID_UID: $(cat "$T/out/env")"
        for v in SVCID_SUB SVCID_UNIT SVCID_JTI; do
                ! grep -q "^$v=" "$T/out/env" || fail "$label: $v set from a value with a control character"
        done
        grep -qx "SVCID_ISS=$ISS" "$T/out/env" && grep -qx "SVCID_AUD=$AUD" "$T/out/env" ||
                fail "$label: SVCID_ISS or SVCID_AUD missing: $(cat "$T/out/env")"
        grep -qF '"sub":"eve\nSVCID_UID=0"' "$T/out/env" || fail "$label: SVCID_CLAIMS lacks the escaped sub"
        [ "$(grep -c . "$T/out/env")" = "$(grep -c '^[A-Z_]*=' "$T/out/env")" ] ||
                fail "$label: the environment has a line that is no variable: $(cat "$T/out/env")"
        reset_out
        reply=$(client "$T/ctl.sock" --send "SVCID1 $TAB_TOKEN\n")
        [ "$reply" = served ] || fail "$label: a token of an issuer with a tab in its name was not admitted: $reply"
        grep -qx 'SVCID_SUB=tabby' "$T/out/env" && ! grep -q '^SVCID_ISS=' "$T/out/env" ||
                fail "$label: SVCID_ISS set from a value with a control character: $(cat "$T/out/env")"
        grep -qF '"iss":"svcid://tab\there.example"' "$T/out/env" || fail "$label: SVCID_CLAIMS lacks the escaped iss"
        reset_out
        reply=$(client "$T/ctl.sock" --send "SVCID1 $UTF_TOKEN\n")
        [ "$reply" = served ] || fail "$label: a token with UTF-8 claims was not admitted: $reply"
        grep -qx 'SVCID_SUB=zoë' "$T/out/env" && grep -qx 'SVCID_UNIT=ünit.service' "$T/out/env" ||
                fail "$label: UTF-8 claims did not pass unchanged: $(cat "$T/out/env")"
        reset_out
        reply=$(client "$T/ctl.sock" --send "SVCID1 $LONG_TOKEN\n")
        [ "$reply" = served ] || fail "$label: a token with a long unit was not admitted: $reply"
        stop_ssa
        grep -qF 'unit="a?b.service"' "$LOG" && grep -qF 'unit="??nit.service"' "$LOG" ||
                fail "$label: unit not made printable in the audit line: $(cat "$LOG")"
        grep -qF "unit=\"$(printf 'x%.0s' {1..100})?$(printf 'y%.0s' {1..23})...\"" "$LOG" ||
                fail "$label: a long unit not cut with \"...\" in the audit line: $(cat "$LOG")"
        rm -f "$T/ctl.sock"
        ok "$label: claims with control characters are not exported, UTF-8 ones are; units logged printable"
done

# The gate's own environment may carry SVCID_* and LISTEN_* (a gate
# started from a shell that has them, or by a service manager): none of
# them reaches the service, which sees each variable the gate sets once,
# with the token's value, and none the token does not give. The service
# here writes its environment as exec'd (/proc/self/environ), so that a
# repeated name shows.
cat > "$T/rawenv.sh" <<EOF2
#!$PY
import os
o = "$T/out"
env = open("/proc/self/environ", "rb").read().split(b"\\0")
with open(o + "/rawenv.tmp", "wb") as f:
    f.write(b"".join(e + b"\\n" for e in env if e.startswith((b"SVCID_", b"LISTEN_"))))
os.rename(o + "/rawenv.tmp", o + "/rawenv")
os.write(1, b"served\\n")
EOF2
chmod 755 "$T/rawenv.sh"
NOUNIT_TOKEN=$(mint k1 --iss "$ISS" --aud "$AUD" --sub alice)
for style in "per-connection:-a" "long-lived:"; do
        label=${style%%:*}; opt=${style#*:}
        : > "$LOG"
        start_ssa "$LOG" "$T/env.sock" $opt -E SVCID_SUB=mallory -E SVCID_UNIT=stale.service -E SVCID_UID=0 \
                -E LISTEN_FDNAMES=x -E SVCID_TOKEN=stale.token.x -E SVCID_ISS=svcid://forged.example \
                -E SVCID_AUD=forged -E SVCID_JTI=forged -E 'SVCID_CLAIMS={"sub":"mallory"}' \
                -E SVCID_SUBJECT=kept -- -a "$AUD" --trust "$T/keys/k1.jwks" --timeout 2 -- "$T/rawenv.sh"
        reset_out
        reply=$(client "$T/env.sock" --send "SVCID1 $NOUNIT_TOKEN\n")
        [ "$reply" = served ] || fail "$label: a gate with SVCID_* in its environment did not serve: $reply"
        wait_for "$T/out/rawenv" || fail "$label: the service did not run"
        [ "$(grep -c '^SVCID_SUB=' "$T/out/rawenv")" = 1 ] && grep -qx 'SVCID_SUB=alice' "$T/out/rawenv" ||
                fail "$label: SVCID_SUB not the token's, once: $(cat "$T/out/rawenv")"
        ! grep -q '^SVCID_UNIT=' "$T/out/rawenv" || fail "$label: an inherited SVCID_UNIT reached the service"
        ! grep -q '^SVCID_UID=' "$T/out/rawenv" || fail "$label: an inherited SVCID_UID reached the service"
        [ "$(grep -c '^LISTEN_FDNAMES=' "$T/out/rawenv")" = 1 ] && grep -qx 'LISTEN_FDNAMES=connection' "$T/out/rawenv" ||
                fail "$label: LISTEN_FDNAMES not the gate's, once: $(cat "$T/out/rawenv")"
        # Nor an inherited token, nor any other claim's variable; a name
        # that only begins like one of them is not the gate's and passes.
        ! grep -q '^SVCID_TOKEN=' "$T/out/rawenv" || fail "$label: an inherited SVCID_TOKEN reached the service"
        for v in "SVCID_ISS=$ISS" "SVCID_AUD=$AUD"; do
                [ "$(grep -c "^${v%%=*}=" "$T/out/rawenv")" = 1 ] && grep -qxF "$v" "$T/out/rawenv" ||
                        fail "$label: ${v%%=*} not the gate's, once: $(cat "$T/out/rawenv")"
        done
        [ "$(grep -c '^SVCID_JTI=' "$T/out/rawenv")" = 1 ] && ! grep -q '^SVCID_JTI=forged' "$T/out/rawenv" ||
                fail "$label: SVCID_JTI not the token's, once: $(cat "$T/out/rawenv")"
        [ "$(grep -c '^SVCID_CLAIMS=' "$T/out/rawenv")" = 1 ] && grep -q '^SVCID_CLAIMS={.*"sub":"alice"' "$T/out/rawenv" ||
                fail "$label: SVCID_CLAIMS not the token's, once: $(cat "$T/out/rawenv")"
        grep -qx 'SVCID_SUBJECT=kept' "$T/out/rawenv" || fail "$label: SVCID_SUBJECT, not one of the gate's, was dropped"
        stop_ssa
        rm -f "$T/env.sock"
        ok "$label: inherited SVCID_*, SVCID_TOKEN and LISTEN_FDNAMES dropped; the token's variables once, no SVCID_UNIT"
done

# The policy options reach the verification: --issuer keeps to one of
# the trusted issuers, every --require counts (the last one too), and
# --leeway 0 is no leeway (the default is 60 s), not the default.
keygen k2 svcid://gate-test-2.example
OK_TOKEN=$(mint k1 --iss "$ISS" --aud "$AUD" --sub alice --unit build-1.service --claim stage=deploy)
OTHER_ISS_TOKEN=$(mint k2 --iss svcid://gate-test-2.example --aud "$AUD" --sub alice --unit build-1.service \
        --claim stage=deploy)
WRONG_UNIT_TOKEN=$(mint k1 --iss "$ISS" --aud "$AUD" --sub alice --unit deploy.service --claim stage=deploy)
# expired 10 s ago: within the default leeway, not within none
JUST_EXPIRED=$(mint k1 --iss "$ISS" --aud "$AUD" --sub alice --unit build-1.service --claim stage=deploy \
        --iat-offset -70 --ttl 60)
: > "$LOG"
start_ssa "$LOG" "$T/policy.sock" -a -- -a "$AUD" --trust "$T/keys/k1.jwks" --trust "$T/keys/k2.jwks" \
        --issuer "$ISS" --require stage=deploy --require 'unit=build-*' --leeway 0 --timeout 2 -- "$T/svc.sh"
check_admit_token() {  # LABEL TOKEN
        reset_out
        reply=$(client "$T/policy.sock" --send "SVCID1 $2\n")
        [ "$reply" = served ] || fail "$1: reply was '$reply', not 'served'"
}
check_admit_token "policy options: a token that meets them" "$OK_TOKEN"
check_refuse "$T/policy.sock" "--issuer: another trusted issuer" unknown_issuer --send "SVCID1 $OTHER_ISS_TOKEN\n"
check_refuse "$T/policy.sock" "the second --require" claim_mismatch --send "SVCID1 $WRONG_UNIT_TOKEN\n"
check_refuse "$T/policy.sock" "--leeway 0" expired --send "SVCID1 $JUST_EXPIRED\n"
stop_ssa
rm -f "$T/policy.sock"
: > "$LOG"
start_ssa "$LOG" "$T/policy.sock" -a -- -a "$AUD" --trust "$T/keys/k1.jwks" --timeout 2 -- "$T/svc.sh"
check_admit_token "the default leeway" "$JUST_EXPIRED"
stop_ssa
rm -f "$T/policy.sock"
ok "--issuer, each --require and --leeway 0 are applied"

# Usage errors exit 2 without touching anything.
# Run directly (inetd style, the connection a socketpair on stdin and
# stdout) the gate says by its exit status what became of the connection:
# the command's status once admitted, 1 refused, 2 a configuration error,
# 127 a command that could not be executed.
# pair.py [--fd3 N] [--dgram] [--extra-fd] PREAMBLE GATE-ARGS...: prints the
# gate's exit status, then what the connection got. --fd3 N puts the
# connection on fd 3 with LISTEN_FDS=N naming the gate; --extra-fd leaves a
# file open on fd 7 of the gate, as an inherited descriptor.
cat > "$T/pair.py" <<'PY'
import os, socket, subprocess, sys
args = sys.argv[1:]
fd3 = dgram = extra = None
while args[0].startswith("--"):
    o = args.pop(0)
    if o == "--fd3": fd3 = args.pop(0)
    elif o == "--dgram": dgram = True
    elif o == "--extra-fd": extra = True
pre, cmd = args[0], args[1:]
if fd3 is not None:
    os.open("/dev/null", os.O_RDONLY)       # holds fd 3 until the connection takes it
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM if dgram else socket.SOCK_STREAM)
env, kw = dict(os.environ), {}
if fd3 is not None:
    os.dup2(b.fileno(), 3)
    os.set_inheritable(3, True)
    env["LISTEN_FDS"] = fd3
    cmd = ["sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh"] + cmd
    kw = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, pass_fds=[3])
else:
    kw = dict(stdin=b, stdout=b)
if extra:
    f = os.open("/dev/null", os.O_RDONLY)
    os.dup2(f, 7)
    kw["pass_fds"] = list(kw.get("pass_fds", [])) + [7]
p = subprocess.Popen(cmd, env=env, **kw)
b.close()
if fd3 is not None:
    os.close(3)
if extra:
    os.close(7)
a.settimeout(30)
out = b""
try:
    if pre:
        a.sendall(pre.encode().decode("unicode_escape").encode("latin-1"))
    if not dgram:
        a.shutdown(socket.SHUT_WR)
        while True:
            d = a.recv(65536)
            if not d: break
            out += d
except OSError:
    pass
rc = p.wait()
print(rc, out.decode(errors="replace").strip())
PY
pair() { "$PY" "$T/pair.py" "$@" 2>>"$T/pair.err"; }
ARGS=(-a "$AUD" --trust "$T/keys/k1.jwks" --timeout 2)
: > "$T/pair.err"
reset_out
[ "$(pair "SVCID1 $TOKEN\n" "$GATE" "${ARGS[@]}" -- /bin/sh -c 'echo served; exit 7')" = "7 served" ] ||
        fail "exit status: an admitted command's status is not the gate's"
[ "$(pair "SVCID1 $TOKEN\n" "$GATE" "${ARGS[@]}" -- "$T/svc.sh")" = "0 served" ] && wait_for "$T/out/allfds" ||
        fail "exit status: not admitted with the connection on stdin"
[ "$(pair "SVCID1 x\n" "$GATE" "${ARGS[@]}" -- "$T/svc.sh")" = "1 SVCID1 ERR malformed" ] ||
        fail "exit status: a refusal did not exit 1"
got=$(pair "SVCID1 $TOKEN\n" "$GATE" -a "$AUD" --trust "$T/keys/none.jwks" -- "$T/svc.sh")
[ "$got" = "2 " ] || fail "exit status: trust that does not load: '$got', not 2 and a closed connection"
# Found and executable, but no exec can run it: its interpreter is
# missing. Admitted, then 127.
printf '#!%s/no-such-interpreter\n' "$T" > "$T/badinterp.sh"; chmod 755 "$T/badinterp.sh"
got=$(pair "SVCID1 $TOKEN\n" "$GATE" "${ARGS[@]}" -- "$T/badinterp.sh")
[ "$got" = "127 " ] || fail "exit status: a command exec cannot run: '$got', not 127"
grep -q "cannot execute \"$T/badinterp.sh\": cannot run it: the interpreter (#! line) or loader it names is missing" "$T/pair.err" ||
        fail "exit status: the failed exec is not logged: $(cat "$T/pair.err")"
# Not found, or a directory: closed unread before any token is read, 127.
for cmd in "$T/no-such-command" "$T"; do
        : > "$T/pair.err"
        got=$(pair "SVCID1 $TOKEN\n" "$GATE" "${ARGS[@]}" -- "$cmd")
        [ "$got" = "127 " ] || fail "exit status: command $cmd: '$got', not 127"
        grep -q "cannot execute \"$cmd\"" "$T/pair.err" && ! grep -q admitted "$T/pair.err" ||
                fail "exit status: command $cmd: admitted, or not logged: $(cat "$T/pair.err")"
done
# Searched in PATH as execvp() does: a file found there that may not be
# executed is "Permission denied", not "not found"; an empty name is
# found nowhere.
mkdir -p "$T/noexec"; printf '#!/bin/sh\necho served\n' > "$T/noexec/svcid-noexec-tool"; chmod 0644 "$T/noexec/svcid-noexec-tool"
for case in "svcid-noexec-tool|Permission denied" "|No such file or directory"; do
        cmd=${case%%|*} why=${case#*|}
        : > "$T/pair.err"
        got=$(PATH=$T/noexec:/usr/bin:/bin pair "SVCID1 $TOKEN\n" "$GATE" "${ARGS[@]}" -- "$cmd")
        [ "$got" = "127 " ] || fail "exit status: command '$cmd' in PATH: '$got', not 127"
        grep -qF "cannot execute \"$cmd\": $why" "$T/pair.err" || fail "command '$cmd' in PATH: $(cat "$T/pair.err")"
done
# The log quotes the command as the operator gave it, which may hold any
# byte: one printable line, so that a newline in it forges no line of its
# own (here one that reads as an admission).
: > "$T/pair.err"
cmd=$T/no-such$'\n''svcid-gate[1]: admitted sub="root"'$'\e[0m'
got=$(pair "SVCID1 $TOKEN\n" "$GATE" "${ARGS[@]}" -- "$cmd")
[ "$got" = "127 " ] || fail "exit status: a command with a newline in its name: '$got', not 127"
grep -qF "cannot execute \"$T/no-such?svcid-gate[1]: admitted sub=\"root\"?[0m\": No such file" "$T/pair.err" &&
        ! grep -q '^svcid-gate\[1\]' "$T/pair.err" || fail "a command's name not made printable in the log: $(cat "$T/pair.err")"
# ... and the search goes on past it: an executable copy further on runs.
mkdir -p "$T/exec2"; printf '#!/bin/sh\necho served-from-exec2\n' > "$T/exec2/svcid-noexec-tool"; chmod 0755 "$T/exec2/svcid-noexec-tool"
got=$(PATH=$T/noexec:$T/exec2:/usr/bin:/bin pair "SVCID1 $TOKEN\n" "$GATE" "${ARGS[@]}" -- svcid-noexec-tool)
[ "$got" = "0 served-from-exec2" ] || fail "a copy in PATH that may not be executed stopped the search: '$got'"
ok "run directly: the command's status once admitted, 1 refused, 2 no trust, 127 the command cannot run"

# --max-lifetime refuses a token the default (3600 s) admits, and admits
# one within it.
long=$(mint k1 --iss "$ISS" --aud "$AUD" --ttl 600)
[ "$(pair "SVCID1 $long\n" "$GATE" "${ARGS[@]}" -- /bin/echo served)" = "0 served" ] ||
        fail "--max-lifetime: a 600 s token was refused by default"
got=$(pair "SVCID1 $long\n" "$GATE" "${ARGS[@]}" --max-lifetime 400 -- /bin/echo served)
[ "$got" = "1 SVCID1 ERR lifetime_too_long" ] || fail "--max-lifetime 400: a 600 s token got '$got'"
[ "$(pair "SVCID1 $TOKEN\n" "$GATE" "${ARGS[@]}" --max-lifetime 400 -- /bin/echo served)" = "0 served" ] ||
        fail "--max-lifetime 400: a 300 s token was refused"
ok "--max-lifetime refuses a longer token, admits a shorter one"

# A refused client that keeps sending is drained for 1 MiB at most, per
# connection too.
: > "$LOG"
start_ssa "$LOG" "$T/drainmax.sock" -a -- -a "$AUD" --trust "$T/keys/k1.jwks" -- /bin/cat
drain_check "$T/drainmax.sock"
stop_ssa
ok "per connection, a refused client that keeps sending is cut after $DRAIN_SENT bytes"

# A client reset while its preamble is still coming: logged as cut short
# (truncated), since it had sent part of one, not as no token at all.
PORT=$(free_port)
: > "$LOG"
start_ssa "$LOG" "127.0.0.1:$PORT" -a -- -a "$AUD" --trust "$T/keys/k1.jwks" --timeout 5 -- "$T/svc.sh"
"$PY" - "$PORT" <<'PY'
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"SVCID1 abc")
time.sleep(0.5)                 # read by the gate by now
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()                       # a reset
PY
# (start_ssa's own probe connection is refused as no_token too)
for _ in $(seq 100); do grep -q 'detail="connection failed while reading"' "$LOG" && break; sleep 0.1; done
stop_ssa
grep -q 'refused reason=truncated detail="connection failed while reading"' "$LOG" ||
        fail "a client reset amid its preamble: $(grep refused "$LOG")"
ok "a client reset amid its preamble is logged as truncated"

# Options after the command are the command's own, without "--" too.
[ "$(pair "SVCID1 $TOKEN\n" "$GATE" "${ARGS[@]}" /bin/echo -n served)" = "0 served" ] ||
        fail "the command's own option -n was not passed to it"
# A descriptor the gate inherited does not reach the service.
reset_out
[ "$(pair --extra-fd "SVCID1 $TOKEN\n" "$GATE" "${ARGS[@]}" -- "$T/svc.sh")" = "0 served" ] && wait_for "$T/out/allfds" ||
        fail "an inherited descriptor: not served"
[ "$(cat "$T/out/allfds")" = "0 1 2 3 " ] || fail "an inherited descriptor reached the service: $(cat "$T/out/allfds")"
ok "the command's options need no \"--\"; an inherited descriptor is not passed on"

# Usage errors exit 2 without touching anything: with a connection on
# stdin, so that none passes for a later failure; each says what is wrong.
while IFS='|' read -r args words; do
        : > "$T/pair.err"
        got=$(eval "pair \"SVCID1 \$TOKEN\n\" \"\$GATE\" $args")
        [ "$got" = "2 " ] || fail "usage: $args: '$got', not 2 and a closed connection"
        grep -qF -- "$words" "$T/pair.err" || fail "usage: $args: $(cat "$T/pair.err")"
done <<'CASES'
--trust "$T/keys/k1.jwks" -- /bin/true|an audience is required (-a AUD)
-a "$AUD" --trust "$T/keys/k1.jwks"|no command to run after the options
-a '' --trust "$T/keys/k1.jwks" -- /bin/true|empty audience
-a "$AUD" --trust "$T/keys/k1.jwks" --require =deploy -- /bin/true|--require needs CLAIM=GLOB
-a "$AUD" --trust "$T/keys/k1.jwks" --issuer svcid://someone-else.example -- /bin/true|issuer "svcid://someone-else.example": not a trusted issuer
-a "$AUD" --trust "$T/keys/k1.jwks" --peer-uid --local-jwks keys/k1.jwks -- /bin/true|--local-jwks needs an absolute path
-a "$AUD" --trust "$T/keys/k1.jwks" --max-services 0 -- /bin/true|--max-services: "0" is not a number in 1..65536
-a "$AUD" --trust "$T/keys/k1.jwks" --timeout 0 -- /bin/true|--timeout: "0" is not a number of seconds in 1..3600
-a "$AUD" --trust "$T/keys/k1.jwks" --mode $'ht\ntp' -- /bin/true|unknown mode "ht?tp" (line or http)
-a "$AUD" --trust "$T/keys/k1.jwks" --issuer $'svcid://x\nsvcid-gate[1]: y' -- /bin/true|issuer "svcid://x?svcid-gate[1]: y": not a trusted issuer
-a "$AUD" --trust "$T/keys/k1.jwks" --no-such-option -- /bin/true|Try 'svcid-gate --help'
-a "$AUD" --trust "$T/keys/k1.jwks" $'--no\nsuch' -- /bin/true|svcid-gate: unknown option '--no?such'
-a "$AUD" --trust "$T/keys/k1.jwks" --ma 5 -- /bin/true|svcid-gate: option '--ma' is ambiguous
-a "$AUD" --trust "$T/keys/k1.jwks" $'-\e' -- /bin/true|svcid-gate: unknown option '-?'
-a "$AUD" --trust "$T/keys/k1.jwks" --peer-uid -Xh -- /bin/true|svcid-gate: unknown option '-X'
-a "$AUD" --trust "$T/keys/k1.jwks" --peer-uid=$'\e[31m' -- /bin/true|svcid-gate: option '--peer-uid=?[31m' takes no value
-a "$AUD" --trust "$T/keys/k1.jwks" --timeout|svcid-gate: option '--timeout' needs a value
-a "$AUD" --trust "$T/keys/k1.jwks" -a other -- /bin/true|svcid-gate: option '--audience' (-a) is given twice; it takes one value
-a "$AUD" --trust "$T/keys/k1.jwks" --issuer x --issuer=y -- /bin/true|svcid-gate: option '--issuer' is given twice; it takes one value
-a "$AUD" --trust "$T/keys/k1.jwks" --mode line -m http -- /bin/true|svcid-gate: option '--mode' (-m) is given twice; it takes one value
CASES
# A usage error (a wrong unit) leaves a waiting connection unserved: over
# TCP its close must be a reset, as when the trust does not load, even for
# a client whose preamble comes after the gate has gone (a slow link), so
# that no client takes it for the clean end of a service that said
# nothing. The client writes once the gate's log has the error twice
# (start_ssa's own probe connection gets a gate too).
cat > "$T/late.py" <<'PY'
import socket, sys, time
port, log, want = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
for _ in range(100):
    if open(log).read().count(want) >= 2:
        break
    time.sleep(0.1)
else:
    sys.exit("the gate never logged: " + want)
time.sleep(0.2)
try:
    s.sendall(b"SVCID1 x\n")
    print("clean end" if s.recv(100) == b"" else "data")
except (ConnectionResetError, BrokenPipeError):
    print("reset")
PY
while IFS='|' read -r opt want; do
        : > "$LOG"
        PORT=$(free_port)
        start_ssa "$LOG" "127.0.0.1:$PORT" -a -- -a "$AUD" --trust "$T/keys/k1.jwks" $opt -- "$T/svc.sh"
        got=$("$PY" "$T/late.py" "$PORT" "$LOG" "$want") || fail "usage error $opt over tcp: $got"
        [ "$got" = reset ] || fail "usage error $opt over tcp: a late client saw a $got, not a reset"
        stop_ssa
done <<'CASES'
--timeout 0|--timeout: "0" is not a number of seconds
--no-such-option|unknown option '--no-such-option'
CASES
ok "usage errors reset the connection over tcp, as trust that does not load does"
# Not the one stream socket the gate takes.
: > "$T/pair.err"
got=$(pair --fd3 2 "SVCID1 $TOKEN\n" "$GATE" "${ARGS[@]}" -- /bin/echo served)
[ "$got" = "2 " ] && grep -qF "expected exactly one socket (LISTEN_FDS=2)" "$T/pair.err" ||
        fail "LISTEN_FDS=2: '$got', $(cat "$T/pair.err")"
: > "$T/pair.err"
got=$(pair --fd3 $'2\e[31m' "SVCID1 $TOKEN\n" "$GATE" "${ARGS[@]}" -- /bin/echo served)
[ "$got" = "2 " ] && grep -qF "expected exactly one socket (LISTEN_FDS=2?[31m)" "$T/pair.err" ||
        fail "LISTEN_FDS not made printable: '$got', $(cat -A "$T/pair.err")"
[ "$(pair --fd3 1 "SVCID1 $TOKEN\n" "$GATE" "${ARGS[@]}" -- /bin/echo served)" = "0 served" ] ||
        fail "LISTEN_FDS=1: the connection on fd 3 was not served"
# LISTEN_* naming another process is not ours: the connection on stdin
: > "$T/pair.err"
[ "$(LISTEN_PID=1 LISTEN_FDS=2 pair "SVCID1 $TOKEN\n" "$GATE" "${ARGS[@]}" -- /bin/echo served)" = "0 served" ] ||
        fail "LISTEN_PID=1 LISTEN_FDS=2: the connection on stdin was not served: $(cat "$T/pair.err")"
: > "$T/pair.err"
got=$(pair --dgram "SVCID1 $TOKEN\n" "$GATE" "${ARGS[@]}" -- /bin/echo served)
[ "$got" = "2 " ] && grep -qF "no stream socket on fd 0" "$T/pair.err" ||
        fail "a datagram socket: '$got', $(cat "$T/pair.err")"
ok "usage errors, two sockets or a datagram socket exit 2 and say why"

set +e
"$GATE" --help > /dev/null; [ $? = 0 ] || fail "--help did not exit 0"
"$GATE" -- /bin/true 2>/dev/null; [ $? = 2 ] || fail "missing audience did not exit 2"
"$GATE" -a x 2>/dev/null; [ $? = 2 ] || fail "missing command did not exit 2"
"$GATE" -a x --timeout 0 -- /bin/true 2>/dev/null; [ $? = 2 ] || fail "--timeout 0 accepted"
"$GATE" -a x --timeout 5s -- /bin/true 2>/dev/null; [ $? = 2 ] || fail "--timeout 5s accepted"
"$GATE" -a x --mode smtp -- /bin/true 2>/dev/null; [ $? = 2 ] || fail "--mode smtp accepted"
"$GATE" -a x --trust '' -- /bin/true 2>"$T/usage.err"; [ $? = 2 ] || fail "an empty --trust accepted"
grep -q "empty --trust path" "$T/usage.err" || fail "empty --trust: $(cat "$T/usage.err")"
"$GATE" -a x --require unit= -- /bin/true 2>"$T/usage.err"; [ $? = 2 ] || fail "--require with an empty pattern accepted"
grep -q "neither empty" "$T/usage.err" || fail "--require unit=: $(cat "$T/usage.err")"
"$GATE" -a x -- /bin/true < /dev/null 2>/dev/null; [ $? = 2 ] || fail "no socket did not exit 2"
set -e
ok "usage errors exit 2"

# --check-config: what a connection would meet before its token, with no
# socket: exit 0 and "ok", or 2 and what is wrong.
gate_check() {  # EXPECTED-RC EXPECTED-LINE gate-args...
        local want=$1 line=$2 rc=0; shift 2
        "$GATE" --check-config "$@" < /dev/null > "$T/check.out" 2> "$T/check.err" || rc=$?
        [ "$rc" = "$want" ] && grep -qxF "$line" "$T/check.out" "$T/check.err" ||
                fail "--check-config $*: exit $rc, out '$(cat "$T/check.out")', err '$(cat "$T/check.err")'"
}
gate_check 0 "ok: command $T/svc.sh, trust loaded" -a "$AUD" --trust "$T/keys/k1.jwks" -- "$T/svc.sh"
gate_check 0 "ok: command $(type -P true), trust loaded" -a "$AUD" --trust "$T/keys" -- true
gate_check 2 "svcid-gate: cannot load trust: $T/keys/absent.jwks: No such file or directory" \
        -a "$AUD" --trust "$T/keys/absent.jwks" -- "$T/svc.sh"
gate_check 2 "svcid-gate: cannot load trust: issuer \"svcid://nope\": not a trusted issuer" \
        -a "$AUD" --trust "$T/keys/k1.jwks" --issuer svcid://nope -- "$T/svc.sh"
gate_check 2 "svcid-gate: cannot execute \"$T/nonexistent\": No such file or directory" \
        -a "$AUD" --trust "$T/keys/k1.jwks" -- "$T/nonexistent"
gate_check 2 "svcid-gate: cannot load trust: $T/keys/absent.jwks: No such file or directory (--peer-uid reads this host's issuer from --local-jwks)" \
        -a "$AUD" --trust "$T/keys/k1.jwks" --peer-uid --local-jwks "$T/keys/absent.jwks" -- "$T/svc.sh"
OPENSSL_CONF="$T/absent.cnf" gate_check 2 "svcid-gate: cannot load the OpenSSL configuration \"$T/absent.cnf\": no such readable file" \
        -a "$AUD" --trust "$T/keys/k1.jwks" -- "$T/svc.sh"
rc=0; "$GATE" --check-config -a "$AUD" --trust "$T/keys/k1.jwks" 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "--check-config with no command: exit $rc"
ok "--check-config says what a connection would meet"
echo "all gate line-mode checks passed"
