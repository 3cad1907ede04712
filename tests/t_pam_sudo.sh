#!/bin/bash
# SPDX-License-Identifier: MIT
# pam_svcid under the real sudo, with the stack pam_svcid(8) gives for it:
# an unprivileged caller runs a command as another account with a token
# for itself (sudo authenticates the invoking user), typed at the prompt
# (sudo -S) or handed over in SVCID_TOKEN, as `svcid exec -- sudo ...`
# does. sudo rebuilds its environment before it authenticates, so the
# sudoers here keeps SVCID_TOKEN, as pam_svcid(8) says to. Checks the size
# limit the man page states (sudo takes answers of at most 511 bytes;
# SVCID_TOKEN has no such limit), the audience with %H, and refusals with
# their audit lines.
#
# sudo always uses the PAM service "sudo" and reads /etc/sudoers. The test
# runs in a private mount namespace and bind-mounts its own stack and
# sudoers over them there, so the machine's files are never changed and
# nobody else sees them. Root only; the two test accounts are removed on
# exit.
set -euo pipefail

PAM_TEST_PRIVATE_MOUNTS=1
. "$(dirname "$0")/t_pam_common.sh"

SUDO=$(command -v sudo || true)
[ -n "$SUDO" ] || skip "sudo not installed"
[ -e /etc/pam.d/sudo ] && [ -e /etc/sudoers ] || skip "/etc/pam.d/sudo or /etc/sudoers missing: nothing to bind over"
command -v setpriv >/dev/null || skip "setpriv (util-linux) not installed"
# A sanitizer build of the module cannot be loaded into set-uid sudo by an
# unprivileged caller (the loader ignores LD_PRELOAD there).
[ -z "$(pam_preload)" ] || skip "sanitizer build: set-uid sudo cannot load it (the plain build runs this test)"

private_syslog

CALLER=svcidc$$
TARGET=svcidu$$
useradd -M -N -s /bin/sh -d / "$CALLER"
EXTRA_CLEANUP+=("userdel $CALLER" "rm -f /run/sudo/ts/$CALLER")
useradd -M -N -s /bin/sh -d / "$TARGET"
EXTRA_CLEANUP+=("userdel $TARGET")
AUD=sudo:$(hostname)

# The man page's stack, with the test's trust.
pam_stack "$T/sudo.pam" "sudo:%H"
chmod 644 "$T/sudo.pam"
# Ask every time, one try, keep SVCID_TOKEN (pam_svcid(8)), and let the
# caller run anything as TARGET only.
cat > "$T/sudoers" <<EOF
Defaults timestamp_timeout=0, passwd_tries=1, !lecture, !fqdn, env_reset
Defaults env_keep += "SVCID_TOKEN"
$CALLER ALL=($TARGET) ALL
EOF
chmod 440 "$T/sudoers"
mount --bind "$T/sudo.pam" /etc/pam.d/sudo
EXTRA_CLEANUP=("umount -l /etc/pam.d/sudo" "${EXTRA_CLEANUP[@]}")
mount --bind "$T/sudoers" /etc/sudoers
EXTRA_CLEANUP=("umount -l /etc/sudoers" "${EXTRA_CLEANUP[@]}")

as_caller() {
        setpriv --reuid="$CALLER" --regid="$(id -g "$CALLER")" --clear-groups --reset-env "$@"
}
# sudo_prompt TOKEN: the token typed at sudo's prompt (-S: read from stdin).
# The command's output goes to $T/out, sudo's prompt and errors to $T/err.
sudo_prompt() {
        printf '%s\n' "$1" | as_caller timeout 60 "$SUDO" -S -k -u "$TARGET" id -un > "$T/out" 2> "$T/err"
}
# sudo_env TOKEN: the token in SVCID_TOKEN, nothing typed.
sudo_env() {
        as_caller env SVCID_TOKEN="$1" timeout 60 "$SUDO" -S -k -u "$TARGET" id -un < /dev/null > "$T/out" 2> "$T/err"
}
show() { echo "--- sudo:"; cat "$T/out" "$T/err"; echo "--- syslog:"; tail -n 20 "$LOG"; }

# The command prints the account it runs as (id -un); audit lines name
# the caller, whom sudo authenticates, and the service.
expect_ok() {
        pam_expect "$1" ok "^$TARGET\$" ".*sub=\"$CALLER\" .*user=\"$CALLER\" service=\"sudo\"" "${@:2}"
}
expect_refused() {
        pam_expect "$1" "$2" "^$TARGET\$" ".*user=\"$CALLER\" service=\"sudo\"" "${@:3}"
}

echo "== sudo -u $TARGET as $CALLER, audience=sudo:%H"
expect_ok "token typed at the prompt" sudo_prompt "$(mint "$CALLER" "$AUD")"
expect_ok "token in SVCID_TOKEN" sudo_env "$(mint "$CALLER" "$AUD")"
# The kept variable would reach the command, and so would what auth
# exported for the caller (sudo hands the PAM environment on): the module
# drops the token once sudo has authenticated, and withdraws the rest
# once the target is the PAM user.
sudo_sees() {
        : > "$LOG"
        as_caller env SVCID_TOKEN="$(mint "$CALLER" "$AUD")" timeout 60 "$SUDO" -S -k -u "$TARGET" \
                sh -c 'echo "token=${SVCID_TOKEN:-none} sub=${SVCID_SUB:-none}"' < /dev/null > "$T/out" 2> "$T/err" ||
                { show; fail "$1: sudo with SVCID_TOKEN failed"; }
        grep -qx "token=none sub=none" "$T/out" || { show; fail "$1: the caller's token or claims reached the command"; }
        if grep -q "refused" "$LOG"; then show; fail "$1: a refusal was logged"; fi
        ok "$1: the command sees neither the caller's token nor its claims"
}
sudo_sees "the man page's stack"
# The same with a session line (the pam-auth-update profile's, which
# sudo gets through common-session-noninteractive) and without
# pam_setcred (sudoers' !pam_setcred): the account step drops the token,
# and the session step, for the target, exports nothing and refuses
# nothing.
# (Both files are bind-mounted: rewritten in place, not replaced.)
pam_stack "$T/sudo.pam" "sudo:%H" session
sed 's/^Defaults timestamp_timeout=0,/Defaults !pam_setcred, timestamp_timeout=0,/' "$T/sudoers" > "$T/sudoers.new"
cat "$T/sudoers.new" > "$T/sudoers"
grep -q '!pam_setcred' /etc/sudoers || fail "sudoers did not take !pam_setcred"
sudo_sees "with a session line, without pam_setcred"

echo "== the size limit: 511 bytes at sudo's prompt, none in SVCID_TOKEN"
tok=$(mint "$CALLER" "$AUD" --pad-to 511)
[ "${#tok}" -le 511 ] && [ "${#tok}" -gt 507 ] || fail "minted ${#tok} bytes for 511"
expect_ok "a ${#tok}-byte token at the prompt" sudo_prompt "$tok"
tok=$(mint "$CALLER" "$AUD" --pad-to 1023)
[ "${#tok}" -gt 1000 ] || fail "minted ${#tok} bytes for 1023"
expect_ok "a ${#tok}-byte token in SVCID_TOKEN" sudo_env "$tok"
: > "$LOG"
if sudo_prompt "$tok"; then show; fail "a ${#tok}-byte token typed at sudo's prompt was accepted"; fi
grep -qx "$TARGET" "$T/out" && { show; fail "the command ran with a ${#tok}-byte typed token"; }
grep -q "accepted:" "$LOG" && { show; fail "a ${#tok}-byte typed token was accepted"; }
ok "a ${#tok}-byte token typed at sudo's prompt does not pass (sudo refuses an answer of 512 bytes or more)"

echo "== refusals"
expect_refused "token for the target, not the caller" subject_mismatch sudo_env "$(mint "$TARGET" "$AUD")"
expect_refused "token for another host's sudo" wrong_audience sudo_prompt "$(mint "$CALLER" sudo:elsewhere)"
expect_refused "expired token" expired sudo_env "$(mint "$CALLER" "$AUD" --iat-offset -1000 --ttl 300)"
expect_refused "untrusted issuer" unknown_issuer sudo_prompt "$(mint_untrusted "$CALLER" "$AUD")"

echo "t_pam_sudo: all checks passed"
