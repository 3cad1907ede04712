#!/bin/bash
# SPDX-License-Identifier: MIT
# pam_svcid under a real sshd on 127.0.0.1, with the stack of DESIGN.md:
# a test account logs in with a token as its password, through the
# password and the keyboard-interactive methods (sshd authenticates the
# latter in a child process and runs the account stack there too, then
# hands the PAM environment to the parent, which opens the session: the
# session's SVCID_SUB shows that path works end to end). Wrong-audience,
# expired, other-subject and unknown-issuer tokens are refused, and the
# audit line of each refusal is read from a syslog socket. Tokens at the
# size budget's limits: 511 and 1023 bytes pass; a longer one is cut by
# the OpenSSH client at 1023 and reported as "truncated".
#
# Root only. The test runs in a private mount namespace in which /dev is a
# copy with its own /dev/log, so the audit lines are captured without
# touching the machine's syslog; the PAM service file (/etc/pam.d/<unique
# name>) and the test account are removed on exit.
set -euo pipefail

PAM_TEST_PRIVATE_MOUNTS=1
. "$(dirname "$0")/t_pam_common.sh"

SSHD=$(command -v sshd || echo /usr/sbin/sshd)
[ -x "$SSHD" ] || skip "sshd (openssh-server) not installed"
command -v ssh >/dev/null || skip "ssh (openssh-client) not installed"
command -v sshpass >/dev/null || skip "sshpass not installed"

private_syslog

# --- account, PAM service, sshd -------------------------------------------
USER_NAME=svcidt$$
SERVICE=sshd-svcid$$
AUD=ssh:svcid-test
useradd -M -N -s /bin/sh -d /nonexistent "$USER_NAME"
EXTRA_CLEANUP+=("userdel $USER_NAME")
cat > "/etc/pam.d/$SERVICE" <<EOF
# svcid test stack (t_pam_sshd.sh); removed when the test ends.
auth     [success=done default=ignore]             $MODULE audience=$AUD trust=$TRUST debug
auth     requisite                                 pam_deny.so
account  [success=ok ignore=ignore module_unknown=ignore default=bad]  $MODULE debug
account  required                                  pam_permit.so
session  optional                                  $MODULE
session  required                                  pam_permit.so
EOF
EXTRA_CLEANUP+=("rm -f /etc/pam.d/$SERVICE")

PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$T/hostkey"
cat > "$T/sshd_config" <<EOF
ListenAddress 127.0.0.1
HostKey $T/hostkey
PidFile $T/sshd.pid
UsePAM yes
PasswordAuthentication yes
KbdInteractiveAuthentication yes
PubkeyAuthentication no
PermitRootLogin no
AllowUsers $USER_NAME
AuthorizedKeysFile none
StrictModes no
PrintMotd no
LogLevel VERBOSE
MaxAuthTries 3
EOF
ln -s "$SSHD" "$T/$SERVICE"   # sshd names its PAM service after argv[0]
# A sanitizer build of the module needs its runtimes preloaded into sshd.
LD_PRELOAD="$(pam_preload)" ASAN_OPTIONS=detect_leaks=0 \
        "$T/$SERVICE" -D -e -f "$T/sshd_config" -p "$PORT" 2> "$T/sshd.log" &
SSHD_PID=$!
EXTRA_CLEANUP=("kill $SSHD_PID; wait $SSHD_PID 2>/dev/null" "${EXTRA_CLEANUP[@]}")
for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        kill -0 "$SSHD_PID" 2>/dev/null || { cat "$T/sshd.log"; fail "sshd exited"; }
        sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || { cat "$T/sshd.log"; fail "sshd does not listen on $PORT"; }
echo "sshd ($SERVICE) on 127.0.0.1:$PORT, account $USER_NAME"

# login METHOD TOKEN: runs 'echo $SVCID_SUB' over ssh; output in $T/out.
login() {
        local method=$1 token=$2 prompt=assword
        [ "$method" = keyboard-interactive ] && prompt="svcid token:"
        timeout 60 sshpass -P "$prompt" -p "$token" \
                ssh -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
                -o PreferredAuthentications="$method" -o PubkeyAuthentication=no \
                -o NumberOfPasswordPrompts=1 -o ConnectTimeout=30 -o LogLevel=ERROR \
                -p "$PORT" "$USER_NAME@127.0.0.1" 'echo "sub=$SVCID_SUB iss=$SVCID_ISS"' > "$T/out" 2>&1
}

# audit_has REASON: the syslog got a refusal with that reason for this
# user (waiting for it: log_has).
audit_has() {
        log_has "refused: reason=$1 .*user=\"$USER_NAME\" service=\"$SERVICE\" rhost=\"127.0.0.1\""
}

show() { echo "--- ssh:"; cat "$T/out"; echo "--- syslog:"; tail -n 20 "$LOG"; echo "--- sshd:"; tail -n 20 "$T/sshd.log"; }

for method in password keyboard-interactive; do
        echo "== $method: a valid token logs in"
        : > "$LOG"
        tok=$(mint "$USER_NAME" "$AUD")
        login "$method" "$tok" || { show; fail "$method: valid token refused"; }
        grep -q "sub=$USER_NAME iss=$ISS" "$T/out" || { show; fail "$method: session lacks SVCID_SUB/SVCID_ISS"; }
        log_has "accepted: reason=ok iss=\"$ISS\" sub=\"$USER_NAME\"" || { show; fail "$method: no accepted audit line"; }
        # The account stack ran on the handle that authenticated (in
        # sshd's child for keyboard-interactive) and vouched for it.
        log_has "account accepted: reason=ok" || { show; fail "$method: account did not re-check the token"; }
        if grep -qF "${tok##*.}" "$LOG" "$T/sshd.log"; then fail "$method: the token appears in a log"; fi
        ok "$method: logged in, session has SVCID_SUB, account re-checked, audit line without the token"
done

echo "== refusals, each with its audit line"
refuse() {
        local what=$1 reason=$2 token=$3 method=${4:-password}
        : > "$LOG"
        if login "$method" "$token"; then show; fail "$what: logged in"; fi
        audit_has "$reason" || { show; fail "$what: no audit line with reason=$reason"; }
        ok "$what ($method): refused, audit reason=$reason"
}
refuse "wrong audience" wrong_audience "$(mint "$USER_NAME" ssh:elsewhere)"
refuse "expired" expired "$(mint "$USER_NAME" "$AUD" --iat-offset -1000 --ttl 300)"
refuse "other subject" subject_mismatch "$(mint someone-else "$AUD")"
refuse "unknown issuer" unknown_issuer "$(mint_untrusted "$USER_NAME" "$AUD")"
refuse "wrong audience" wrong_audience "$(mint "$USER_NAME" ssh:elsewhere)" keyboard-interactive

echo "== the size budget's limits"
for len in 511 1023; do
        tok=$(mint "$USER_NAME" "$AUD" --pad-to "$len")
        [ "${#tok}" -le "$len" ] && [ "${#tok}" -gt $((len - 4)) ] || fail "minted ${#tok} bytes for $len"
        for method in password keyboard-interactive; do
                login "$method" "$tok" || { show; fail "$method: ${#tok}-byte token refused"; }
                ok "$method: ${#tok}-byte token logs in"
        done
done
tok=$(mint "$USER_NAME" "$AUD" --pad-to 1200)
refuse "a ${#tok}-byte token, cut by the client" truncated "$tok"

echo "t_pam_sshd: all checks passed"
