#!/bin/bash
# SPDX-License-Identifier: MIT
# pam_svcid under the real su: an unprivileged caller switches to a target
# account with a token, typed at the prompt or handed over in SVCID_TOKEN
# (token=env,authtok), including tokens at the size budget's limits (511
# and 1023 bytes). Refusals are checked with their audit lines.
#
# su always uses the PAM service "su". The test runs in a private mount
# namespace and bind-mounts its own stack over /etc/pam.d/su there, so the
# machine's file is never changed and nobody else sees the test stack.
# Root only; the two test accounts are removed on exit.
set -euo pipefail

PAM_TEST_PRIVATE_MOUNTS=1
. "$(dirname "$0")/t_pam_common.sh"

SU=$(command -v su || echo /bin/su)
[ -x "$SU" ] || skip "su not installed"
[ -e /etc/pam.d/su ] || skip "/etc/pam.d/su missing: nothing to bind the test stack over"
command -v setpriv >/dev/null || skip "setpriv (util-linux) not installed"

private_syslog

CALLER=svcidc$$
TARGET=svcidu$$
useradd -M -N -s /bin/sh -d / "$CALLER"
EXTRA_CLEANUP+=("userdel $CALLER")
useradd -M -N -s /bin/sh -d / "$TARGET"
EXTRA_CLEANUP+=("userdel $TARGET")
AUD=su:$(hostname)

pam_stack "$T/su.pam" "$AUD" session
chmod 644 "$T/su.pam"
mount --bind "$T/su.pam" /etc/pam.d/su
EXTRA_CLEANUP=("umount -l /etc/pam.d/su" "${EXTRA_CLEANUP[@]}")

# as_caller CMD...: run as the unprivileged caller. A sanitizer build of
# the module cannot be loaded into set-uid su by an unprivileged caller
# (the loader ignores LD_PRELOAD there), so that build runs su as root,
# which our stack authenticates like anyone else (it has no pam_rootok).
PRELOAD=$(pam_preload)
as_caller() {
        if [ -n "$PRELOAD" ]; then
                env LD_PRELOAD="$PRELOAD" ASAN_OPTIONS=detect_leaks=0 "$@"
        else
                setpriv --reuid="$CALLER" --regid="$(id -g "$CALLER")" --clear-groups --reset-env "$@"
        fi
}

# su_prompt TOKEN: the token typed at su's prompt; output in $T/out.
su_prompt() {
        printf '%s\n' "$1" | as_caller timeout 60 "$SU" "$TARGET" -c 'echo "whoami=$(id -un) sub=$SVCID_SUB"' \
                > "$T/out" 2>&1
}
# su_env TOKEN: the token in SVCID_TOKEN, nothing typed.
su_env() {
        as_caller env SVCID_TOKEN="$1" timeout 60 "$SU" "$TARGET" -c 'echo "whoami=$(id -un) sub=$SVCID_SUB"' \
                < /dev/null > "$T/out" 2>&1
}
show() { echo "--- su:"; cat "$T/out"; echo "--- syslog:"; tail -n 20 "$LOG"; }

# What runs as TARGET prints whoami= (see su_prompt); audit lines name
# the target and the service.
expect_ok() {
        pam_expect "$1" ok "whoami=$TARGET sub=$TARGET" ".*sub=\"$TARGET\" .*service=\"su\"" "${@:2}"
}
expect_refused() {
        pam_expect "$1" "$2" "whoami=" ".*user=\"$TARGET\" service=\"su\"" "${@:3}"
}

echo "== su $TARGET as $CALLER"
expect_ok "token typed at the prompt" su_prompt "$(mint "$TARGET" "$AUD")"
grep -q "svcid token:" "$T/out" || { show; fail "su did not show the 'svcid token: ' prompt"; }
expect_ok "token in SVCID_TOKEN" su_env "$(mint "$TARGET" "$AUD")"
# A non-login su hands its environment on to the command: the caller's
# token must not reach it (with map=, it would let the target become the
# caller). The module drops it once authentication is over.
as_caller env SVCID_TOKEN="$(mint "$TARGET" "$AUD")" timeout 60 "$SU" "$TARGET" \
        -c 'echo "whoami=$(id -un) token=${SVCID_TOKEN:-none}"' < /dev/null > "$T/out" 2>&1 || { show; fail "su with SVCID_TOKEN failed"; }
grep -qx "whoami=$TARGET token=none" "$T/out" || { show; fail "SVCID_TOKEN reached the target's command"; }
ok "SVCID_TOKEN does not reach the target's command"

echo "== the size budget's limits"
for len in 511 1023; do
        tok=$(mint "$TARGET" "$AUD" --pad-to "$len")
        [ "${#tok}" -le "$len" ] && [ "${#tok}" -gt $((len - 4)) ] || fail "minted ${#tok} bytes for $len"
        expect_ok "a ${#tok}-byte token at the prompt" su_prompt "$tok"
        expect_ok "a ${#tok}-byte token in SVCID_TOKEN" su_env "$tok"
done

echo "== refusals"
expect_refused "token for another account" subject_mismatch su_env "$(mint "$CALLER" "$AUD")"
expect_refused "token for another audience" wrong_audience su_prompt "$(mint "$TARGET" ssh:elsewhere)"
expect_refused "expired token" expired su_env "$(mint "$TARGET" "$AUD" --iat-offset -1000 --ttl 300)"
expect_refused "untrusted issuer" unknown_issuer su_prompt "$(mint_untrusted "$TARGET" "$AUD")"
expect_refused "no token at all" no_token su_prompt ""

echo "t_pam_su: all checks passed"
