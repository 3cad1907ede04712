#!/bin/bash
# SPDX-License-Identifier: MIT
# svcid-gate --peer-uid: over AF_UNIX the token's uid must be the uid the
# kernel reports for the peer, and its issuer this host's. Two real uids
# (runuser): a token replayed by another uid is refused as peer_mismatch,
# and so is a peer whose uid a gate in a user namespace cannot map.
set -euo pipefail
. "$(dirname "$0")/t_gate_common.sh"

[ "$(id -u)" = 0 ] || skip "needs root to create users and switch uids"
command -v useradd >/dev/null && command -v runuser >/dev/null || skip "useradd/runuser missing"

UA=svcid-gt-a$$; UB=svcid-gt-b$$
useradd -r -M -s /usr/sbin/nologin "$UA"
EXTRA_CLEANUP+=("userdel $UA 2>/dev/null")
useradd -r -M -s /usr/sbin/nologin "$UB"
EXTRA_CLEANUP+=("userdel $UB 2>/dev/null")
UID_A=$(id -u "$UA"); UID_B=$(id -u "$UB")

LOCAL_ISS=svcid://this-host.example
keygen local "$LOCAL_ISS"
keygen remote svcid://other-host.example
# Another trust file that claims this host's issuer name with its own key.
keygen impostor "$LOCAL_ISS"
AUD=stage2
LOG=$T/gate.log

TOK_A=$(mint local --iss "$LOCAL_ISS" --aud "$AUD" --sub "$UA" --uid "$UID_A")
TOK_NOUID=$(mint local --iss "$LOCAL_ISS" --aud "$AUD" --sub "$UA")
TOK_REMOTE=$(mint remote --iss svcid://other-host.example --aud "$AUD" --sub "$UA" --uid "$UID_A")
TOK_IMPOSTOR=$(mint impostor --iss "$LOCAL_ISS" --aud "$AUD" --sub "$UA" --uid "$UID_A")
TOK_ROOT=$(mint local --iss "$LOCAL_ISS" --aud "$AUD" --sub root --uid 0)
# A uid that is the owner's only in its low 32 bits, and one given as text.
TOK_WRAP=$(mint local --iss "$LOCAL_ISS" --aud "$AUD" --sub "$UA" --uid $((UID_A + 4294967296)))
TOK_TEXTUID=$(mint local --iss "$LOCAL_ISS" --aud "$AUD" --sub "$UA" --claim "uid=$UID_A")

as() { local u=$1; shift; runuser -u "$u" -- "$PY" "$T/client.py" "$@"; }

expect() {  # LABEL EXPECTED USER client-args...
        local label=$1 want=$2 user=$3 reply; shift 3
        reset_out
        reply=$(as "$user" "$@")
        [ "$reply" = "$want" ] || fail "$label: expected '$want', got '$(printf %s "$reply" | head -c 100)'"
        ok "$label: $want"
}

for style in per-connection long-lived; do
        SOCK=$T/peer-$style.sock
        : > "$LOG"
        ssa_opt=(); [ $style = per-connection ] && ssa_opt=(-a)
        # The remote issuer is trusted, but --peer-uid only takes this host's
        # tokens: signed by a key of --local-jwks, whatever other trust
        # files say their issuer is.
        start_ssa "$LOG" "$SOCK" "${ssa_opt[@]}" -- -a "$AUD" --peer-uid --local-jwks "$T/keys/local.jwks" \
                --trust "$T/keys/remote.jwks" --trust "$T/keys/impostor.jwks" --timeout 3 -- "$T/svc.sh"
        chmod 666 "$SOCK"

        expect "$style: owner presents its token" served "$UA" "$SOCK" --send "SVCID1 $TOK_A\n"
        grep -qx "SVCID_UID=$UID_A" "$T/out/env" || fail "$style: SVCID_UID is not $UID_A"
        expect "$style: another uid replays it" "SVCID1 ERR peer_mismatch" "$UB" "$SOCK" --send "SVCID1 $TOK_A\n"
        [ ! -e "$T/out/env" ] || fail "$style: the service ran for a replayed token"
        expect "$style: root replays it" "SVCID1 ERR peer_mismatch" root "$SOCK" --send "SVCID1 $TOK_A\n"
        expect "$style: token without uid" "SVCID1 ERR missing_claim" "$UA" "$SOCK" --send "SVCID1 $TOK_NOUID\n"
        expect "$style: a uid 2^32 above the owner's" "SVCID1 ERR peer_mismatch" "$UA" "$SOCK" --send "SVCID1 $TOK_WRAP\n"
        expect "$style: the owner's uid as a string" "SVCID1 ERR peer_mismatch" "$UA" "$SOCK" \
                --send "SVCID1 $TOK_TEXTUID\n"
        [ ! -e "$T/out/env" ] || fail "$style: the service ran for a uid that is not the peer's"
        # The policy keeps to this host's issuer: another host's token
        # fails at its issuer, the first check, before the peer's.
        expect "$style: another host's token" "SVCID1 ERR unknown_issuer" "$UA" "$SOCK" --send "SVCID1 $TOK_REMOTE\n"
        expect "$style: this host's issuer name, another trust file's key" "SVCID1 ERR peer_mismatch" "$UA" \
                "$SOCK" --send "SVCID1 $TOK_IMPOSTOR\n"
        [ ! -e "$T/out/env" ] || fail "$style: the service ran for a token not signed by this host's key"
        stop_ssa
        grep -q "refused reason=peer_mismatch.*uid=$UID_B" "$LOG" || fail "$style: no audit line naming the replaying peer"
done

# The peer's credentials, or the socket's address, that cannot be read
# (getsockopt(SO_PEERCRED) or getsockname() failing, ENOBUFS injected by
# strace, which wraps an inetd-style gate): refused, and the log says
# which call failed, not that the peer is no AF_UNIX one.
if command -v strace >/dev/null && strace -f -o /dev/null true 2>/dev/null; then
        # the gate's third getsockopt() is SO_PEERCRED: SO_TYPE and
        # SO_ACCEPTCONN on the socket it is given come first
        # systemd-socket-activate passes on only what -E names: the
        # sanitizer settings, with LeakSanitizer off (it cannot work under
        # strace: SANITIZE=1 builds)
        fail_env=(-E "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")
        for ((i = 0; i < ${#SSA_ENV[@]}; i += 2)); do
                [[ ${SSA_ENV[i + 1]} == ASAN_OPTIONS=* ]] || fail_env+=("${SSA_ENV[@]:i:2}")
        done
        for c in "getsockopt 3 credentials" "getsockname 1 address"; do
                read -r sc when what <<< "$c"
                : > "$LOG"
                systemd-socket-activate -l "$T/fail.sock" -a --inetd "${fail_env[@]}" strace -f -q -o /dev/null -e trace="$sc" \
                        -e inject="$sc:error=ENOBUFS:when=$when" "$GATE" -a "$AUD" --peer-uid \
                        --local-jwks "$T/keys/local.jwks" --timeout 3 -- "$T/svc.sh" 2>>"$LOG" &
                SSA_PID=$!
                BG_PIDS+=("$SSA_PID")
                for _ in $(seq 100); do [ -S "$T/fail.sock" ] && break; sleep 0.1; done
                expect "$sc failing" "SVCID1 ERR peer_mismatch" root "$T/fail.sock" --send "SVCID1 $TOK_ROOT\n"
                [ ! -e "$T/out/env" ] || fail "$sc failing: the service ran"
                for _ in $(seq 50); do grep -q "refused reason=peer_mismatch" "$LOG" && break; sleep 0.1; done
                grep -qF "detail=\"--peer-uid: the peer's $what cannot be read: No buffer space available\"" "$LOG" ||
                        fail "$sc failing: $(cat "$LOG")"
                stop_ssa
                rm -f "$T/fail.sock"
        done
else
        echo "note: strace missing or cannot trace here; unreadable credentials are not checked"
fi

# A gate in a user namespace of its own (PrivateUsers=, a container)
# hears every peer whose uid has no mapping there as the overflow uid,
# nobody's: that uid names no one, and a token minted for nobody must not
# pass for each such peer. In the initial namespace the overflow uid is
# nobody's own, and its token passes.
OVERFLOW_UID=$(cat /proc/sys/kernel/overflowuid)
TOK_OVERFLOW=$(mint local --iss "$LOCAL_ISS" --aud "$AUD" --sub nobody --uid "$OVERFLOW_UID")
if [ "$(id -un "$OVERFLOW_UID" 2>/dev/null)" = nobody ]; then
        start_ssa "$LOG" "$T/nobody.sock" -a -- -a "$AUD" --peer-uid --local-jwks "$T/keys/local.jwks" --timeout 3 \
                -- "$T/svc.sh"
        chmod 666 "$T/nobody.sock"
        expect "nobody presents its token" served nobody "$T/nobody.sock" --send "SVCID1 $TOK_OVERFLOW\n"
        stop_ssa
fi
# userns.py MAP CMD...: CMD as root of a new user namespace whose uid and
# gid maps are MAP ("INSIDE OUTSIDE COUNT" lines, comma-separated), as
# systemd's PrivateUsers= makes one (root, and the unit's user).
cat > "$T/userns.py" <<'PY'
import ctypes, os, sys
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    # still outside: write the maps of the namespace the parent made
    os.close(w)
    try:
        if os.read(r, 1) != b"x":
            os._exit(1)
        with open("/proc/%d/setgroups" % os.getppid(), "w") as f:
            f.write("deny")
        for m in ("uid_map", "gid_map"):
            with open("/proc/%d/%s" % (os.getppid(), m), "w") as f:
                f.write(sys.argv[1].replace(",", "\n") + "\n")
    except OSError as e:
        print("userns.py: %s" % e, file=sys.stderr)
        os._exit(1)
    os._exit(0)
os.close(r)
if ctypes.CDLL(None, use_errno=True).unshare(0x10000000) != 0:         # CLONE_NEWUSER
    sys.exit("userns.py: unshare: " + os.strerror(ctypes.get_errno()))
os.write(w, b"x")
os.close(w)
if os.waitpid(pid, 0)[1] != 0:
    sys.exit(1)
os.setresgid(0, 0, 0)
os.setresuid(0, 0, 0)
os.execv(sys.argv[2], sys.argv[2:])     # the same pid: stop_ssa() stops it
PY
if "$PY" "$T/userns.py" "0 0 1" /bin/true 2>/dev/null; then
        # The unit's user root, or nobody: then the overflow uid is mapped
        # too, and still stands for every peer the namespace cannot map.
        for map in "0 0 1" "0 0 1,$OVERFLOW_UID $OVERFLOW_UID 1"; do
                for style in per-connection long-lived; do
                        SOCK=$T/userns.sock
                        rm -f "$SOCK"
                        : > "$LOG"
                        ssa_opt=(); [ $style = per-connection ] && ssa_opt=(-a)
                        # start_ssa, in that user namespace
                        SSA_LOG=$LOG
                        "$PY" "$T/userns.py" "$map" "$(command -v systemd-socket-activate)" -l "$SOCK" \
                                "${ssa_opt[@]}" "${SSA_ENV[@]}" "$GATE" -a "$AUD" --peer-uid \
                                --local-jwks "$T/keys/local.jwks" --timeout 3 -- "$T/svc.sh" 2>>"$LOG" &
                        SSA_PID=$!
                        BG_PIDS+=("$SSA_PID")
                        for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
                        [ -S "$SOCK" ] || fail "$style, map $map: the gate did not come up: $(cat "$LOG")"
                        chmod 666 "$SOCK"
                        expect "$style, map $map: the owner's token" "SVCID1 ERR peer_mismatch" "$UA" "$SOCK" \
                                --send "SVCID1 $TOK_A\n"
                        expect "$style, map $map: a token for the overflow uid from an unmapped peer" \
                                "SVCID1 ERR peer_mismatch" "$UB" "$SOCK" --send "SVCID1 $TOK_OVERFLOW\n"
                        [ ! -e "$T/out/env" ] || fail "$style, map $map: the service ran for a peer the gate cannot name"
                        stop_ssa
                        # both refused as unmapped, the owner's own token
                        # too (not as a uid that differs from the token's)
                        n=$(grep -c "refused reason=peer_mismatch detail=\"the peer's uid has no mapping in the gate's user namespace\"" \
                                "$LOG" || true)
                        [ "$n" = 2 ] || fail "$style, map $map: $n audit lines for the 2 unmapped peers: $(cat "$LOG")"
                done
        done
else
        echo "note: no user namespace here: the unmapped-peer checks did not run"
fi

# A long-lived gate watches its --local-jwks as it does a trust file:
# this host's next key, written in place, is taken without a restart.
keygen local2 "$LOCAL_ISS"
cp "$T/keys/local.jwks" "$T/live-local.jwks"
TOK_A2=$(mint local2 --iss "$LOCAL_ISS" --aud "$AUD" --sub "$UA" --uid "$UID_A")
: > "$LOG"
start_ssa "$LOG" "$T/live.sock" -- -a "$AUD" --peer-uid --local-jwks "$T/live-local.jwks" --timeout 3 -- "$T/svc.sh"
chmod 666 "$T/live.sock"
expect "long-lived, before --local-jwks changes" served "$UA" "$T/live.sock" --send "SVCID1 $TOK_A\n"
cat "$T/keys/local2.jwks" > "$T/live-local.jwks"
for _ in $(seq 50); do
        reply=$(as "$UA" "$T/live.sock" --send "SVCID1 $TOK_A2\n")
        [ "$reply" = served ] && break
        sleep 0.2
done
[ "$reply" = served ] || fail "long-lived: the new key in --local-jwks was not taken ($reply)"
expect "long-lived, the old key once --local-jwks no longer has it" "SVCID1 ERR unknown_key" "$UA" "$T/live.sock" \
        --send "SVCID1 $TOK_A\n"
stop_ssa

# --peer-uid over TCP: no kernel-vouched peer uid, so nothing is admitted.
PORT=$(free_port)
start_ssa "$LOG" "127.0.0.1:$PORT" -a -- -a "$AUD" --peer-uid --local-jwks "$T/keys/local.jwks" -- "$T/svc.sh"
expect "tcp with --peer-uid" "SVCID1 ERR peer_mismatch" "$UA" "127.0.0.1:$PORT" --send "SVCID1 $TOK_A\n"
# Nor a root token of this host: a TCP peer has no uid, not uid 0.
expect "tcp with --peer-uid, a root token" "SVCID1 ERR peer_mismatch" root "127.0.0.1:$PORT" --send "SVCID1 $TOK_ROOT\n"
[ ! -e "$T/out/env" ] || fail "tcp with --peer-uid: the service ran for a root token"
stop_ssa
# A long-lived gate given a TCP socket with --peer-uid would refuse every
# caller: it does not start (exit 2), and says why.
PORT=$(free_port)
: > "$LOG"
reset_out
# start_ssa's own first connection starts the gate
start_ssa "$LOG" "127.0.0.1:$PORT" -- -a "$AUD" --peer-uid --local-jwks "$T/keys/local.jwks" -- "$T/svc.sh"
for _ in $(seq 100); do kill -0 "$SSA_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SSA_PID" 2>/dev/null && fail "long-lived tcp with --peer-uid: the gate started: $(cat "$LOG")"
rc=0
wait "$SSA_PID" || rc=$?
[ ! -e "$T/out/env" ] && [ $rc = 2 ] || fail "long-lived tcp with --peer-uid: exit $rc: $(cat "$LOG")"
grep -qF -- "--peer-uid needs an AF_UNIX socket, and the one given is not, closing" "$LOG" ||
        fail "long-lived tcp with --peer-uid: $(cat "$LOG")"
ok "--peer-uid over TCP: refused per connection; a long-lived gate does not start"

# --issuer with --peer-uid must name this host's issuer, that of
# --local-jwks: another one is a configuration error (nothing is
# admitted), not quietly this host's.
: > "$LOG"
rm -f "$T/bad-iss.sock"
start_ssa "$LOG" "$T/bad-iss.sock" -a -- -a "$AUD" --peer-uid --local-jwks "$T/keys/local.jwks" \
        --trust "$T/keys/remote.jwks" --issuer svcid://other-host.example -- "$T/svc.sh"
chmod 666 "$T/bad-iss.sock"
reset_out
reply=$(as "$UA" "$T/bad-iss.sock" --timeout 20 --send "SVCID1 $TOK_A\n")
[ -z "$reply" ] && [ ! -e "$T/out/env" ] || fail "--issuer of another host with --peer-uid: not closed unserved ($reply)"
grep -qF -- "--issuer \"svcid://other-host.example\" is not this host's issuer \"$LOCAL_ISS\" (--peer-uid)" "$LOG" ||
        fail "--issuer of another host with --peer-uid: no error in the log: $(cat "$LOG")"
stop_ssa
ok "--issuer of another host with --peer-uid: connection closed, service not run"

# bad_local_jwks FILE LABEL [LOG-PATTERN]: with FILE as --local-jwks the
# gate closes the connection unserved (the service never runs), and logs
# why.
bad_local_jwks() {
        local file=$1 label=$2 why=${3:-} sock=$T/bad-local.sock reply
        : > "$LOG"
        rm -f "$sock"
        start_ssa "$LOG" "$sock" -a -- -a "$AUD" --peer-uid --local-jwks "$file" \
                --trust "$T/keys/local.jwks" -- "$T/svc.sh"
        reset_out
        reply=$(client "$sock" --timeout 20 --send "SVCID1 $TOK_A\n")
        [ -z "$reply" ] && [ ! -e "$T/out/env" ] || fail "$label: the connection was not closed unserved ($reply)"
        [ -z "$why" ] || grep -q "$why" "$LOG" || fail "$label: no error in the log: $(cat "$LOG")"
        stop_ssa
        ok "$label: connection closed, service not run"
}

# A missing local JWKS is a configuration error: nothing is admitted.
bad_local_jwks "$T/keys/absent.jwks" "missing --local-jwks file" \
        "absent.jwks: No such file or directory (--peer-uid reads this host's issuer from --local-jwks)"

# A local JWKS others may write to is refused: a writer could add a key
# that --peer-uid would take for this host's.
cp "$T/keys/local.jwks" "$T/keys/open.jwks"
chmod 0666 "$T/keys/open.jwks"
bad_local_jwks "$T/keys/open.jwks" "a local JWKS others may write" "open.jwks: writable by group or others"

chmod 0644 "$T/keys/open.jwks"
# So is one another user owns, or one below a directory others may write:
# either could put their own key in.
if [ "$(id -u)" = 0 ]; then
        chown 65534 "$T/keys/open.jwks"
        bad_local_jwks "$T/keys/open.jwks" "a local JWKS another user owns" \
                "open.jwks: owned by uid 65534, not root, svcid or the caller"
        chown 0 "$T/keys/open.jwks"
fi
mkdir -m 0777 "$T/open.d"
cp "$T/keys/local.jwks" "$T/open.d/local.jwks"
bad_local_jwks "$T/open.d/local.jwks" "a local JWKS below a directory others may write" \
        "directory \"$T/open.d\" is writable by group or others"

# A FIFO as the local JWKS is refused at once, not waited on.
mkfifo "$T/keys/fifo.jwks"
bad_local_jwks "$T/keys/fifo.jwks" "FIFO as --local-jwks" "fifo.jwks: not a regular file"

# Read as every trust file is, in the same words: a symbolic link is not
# followed, and a document cut short is no JSON object (not a missing
# "iss").
ln -s "$T/keys/local.jwks" "$T/keys/link.jwks"
bad_local_jwks "$T/keys/link.jwks" "a symbolic link as --local-jwks" \
        "link.jwks: a symbolic link, which trust loading does not follow"
head -c 40 "$T/keys/local.jwks" > "$T/keys/cut.jwks"
bad_local_jwks "$T/keys/cut.jwks" "a JWKS cut short as --local-jwks" "cut.jwks: not a JSON object"
echo "all --peer-uid checks passed"
