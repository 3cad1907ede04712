#!/bin/bash
# SPDX-License-Identifier: MIT
# pam_svcid in a real PAM application: pamtester, under pam_wrapper so the
# stack is a private service file in a temp dir. pam_wrapper prints what
# modules hand to pam_syslog on stderr (PAM_WRAPPER_DEBUGLEVEL), which is
# where the audit lines are checked.
set -euo pipefail
. "$(dirname "$0")/t_pam_common.sh"

command -v pamtester >/dev/null || skip "pamtester not installed"
WRAPPER=$(ls /usr/lib/*/libpam_wrapper.so 2>/dev/null | head -n1)
[ -n "$WRAPPER" ] || skip "pam_wrapper (libpam-wrapper) not installed"

AUD=ssh:pamtester
mkdir -p "$T/pam.d"
cat > "$T/pam.d/svcid-pt" <<EOF
auth     [success=done default=ignore]             $MODULE audience=$AUD trust=$TRUST
auth     requisite                                 pam_deny.so
account  [success=ok ignore=ignore module_unknown=ignore default=bad]  $MODULE
session  optional                                  $MODULE
EOF
cat > "$T/pam.d/svcid-env" <<EOF
auth     required   $MODULE audience=$AUD trust=$TRUST token=env
EOF
cat > "$T/pam.d/svcid-badarg" <<EOF
auth     required   $MODULE audience=$AUD trust=$TRUST leeway=soon
EOF

# pt SERVICE USER OPS... with stdin as the answer; output in $T/out.
pt() {
        local service=$1 user=$2
        shift 2
        LD_PRELOAD="$(pam_preload)$WRAPPER" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" \
                PAM_WRAPPER_DEBUGLEVEL=2 ASAN_OPTIONS=detect_leaks=0 \
                pamtester -v "$service" "$user" "$@" > "$T/out" 2>&1
}

expect_ok() {
        local what=$1
        shift
        if ! "$@"; then
                cat "$T/out"
                fail "$what: refused"
        fi
        ok "$what"
}

# expect_refused WHAT REASON cmd...: fails, and the audit line names REASON.
expect_refused() {
        local what=$1 reason=$2
        shift 2
        if "$@"; then
                cat "$T/out"
                fail "$what: accepted"
        fi
        if ! grep -q "refused: reason=$reason " "$T/out"; then
                cat "$T/out"
                fail "$what: no audit line with reason=$reason"
        fi
        ok "$what: refused with reason=$reason"
}

good=$(mint alice "$AUD")

echo "== a valid token as the password"
expect_ok "authenticate" pt svcid-pt alice authenticate <<< "$good"
grep -q "accepted: reason=ok iss=\"$ISS\" sub=\"alice\"" "$T/out" || { cat "$T/out"; fail "no accepted audit line"; }
grep -q 'svcid token: ' "$T/out" || { cat "$T/out"; fail "the prompt was not 'svcid token: '"; }
if grep -qF "${good##*.}" "$T/out"; then cat "$T/out"; fail "the token's signature appears in the output"; fi
ok "audit line says accepted, without the token"

echo "== account and session on the same handle"
expect_ok "authenticate acct_mgmt open_session close_session" \
        pt svcid-pt alice authenticate acct_mgmt open_session close_session <<< "$good"

echo "== account without authentication through the module is ignored"
# The stack's only account module ignores: Linux-PAM fails a stack in
# which every module ignored.
if pt svcid-pt alice acct_mgmt < /dev/null; then
        cat "$T/out"
        fail "acct_mgmt without authentication succeeded"
fi
if grep -q "refused" "$T/out"; then cat "$T/out"; fail "acct_mgmt without authentication was refused, not ignored"; fi
ok "acct_mgmt alone is ignored by the module (and so not granted)"

echo "== refusals, each with its reason"
expect_refused "wrong audience" wrong_audience pt svcid-pt alice authenticate <<< "$(mint alice ssh:elsewhere)"
expect_refused "expired" expired pt svcid-pt alice authenticate <<< "$(mint alice "$AUD" --iat-offset -1000 --ttl 300)"
expect_refused "other subject" subject_mismatch pt svcid-pt alice authenticate <<< "$(mint bob "$AUD")"
expect_refused "unknown issuer" unknown_issuer pt svcid-pt alice authenticate <<< "$(mint_untrusted alice "$AUD")"
expect_refused "garbage" malformed pt svcid-pt alice authenticate <<< "not-a-token"
expect_refused "empty answer" no_token pt svcid-pt alice authenticate <<< ""
long=$(mint alice "$AUD" --pad-to 700)
expect_refused "cut at 511 bytes" truncated pt svcid-pt alice authenticate <<< "${long:0:511}"
expect_refused "last segment cut short" truncated pt svcid-pt alice authenticate <<< "${good:0:$((${#good} - 30))}"

echo "== token=env reads SVCID_TOKEN"
pt_env() { SVCID_TOKEN=$good pt svcid-env alice authenticate < /dev/null; }
expect_ok "token from the environment" pt_env
expect_refused "no SVCID_TOKEN" no_token pt svcid-env alice authenticate < /dev/null

echo "== a JWKS owned by the svcid user is trusted, by no other user"
# The agent's user writes its JWKS. Here "svcid" exists only in a private
# mount namespace, whose /etc/passwd has it: no user is added to the system.
OWNER=64999
while getent passwd "$OWNER" >/dev/null || getent group "$OWNER" >/dev/null; do OWNER=$((OWNER - 1)); done
install -m 0644 -o "$OWNER" -g "$OWNER" "$TRUST/test.jwks" "$T/agent.jwks"
echo "auth     required   $MODULE audience=$AUD trust=$T/agent.jwks" > "$T/pam.d/svcid-agent"
{ grep -v '^svcid:' /etc/passwd; echo "svcid:x:$OWNER:$OWNER::/nonexistent:/usr/sbin/nologin"; } > "$T/passwd"
if unshare -m true 2>/dev/null; then
        if ! unshare -m bash -c 'mount --bind "$1/passwd" /etc/passwd && shift && "$@"' _ "$T" \
                env LD_PRELOAD="$(pam_preload)$WRAPPER" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" \
                PAM_WRAPPER_DEBUGLEVEL=2 ASAN_OPTIONS=detect_leaks=0 \
                pamtester -v svcid-agent alice authenticate <<< "$good" > "$T/out" 2>&1; then
                cat "$T/out"
                fail "a JWKS owned by the svcid user (uid $OWNER) was not trusted"
        fi
        ok "owned by the svcid user: trusted"
else
        echo "note: no private mount namespace here; a JWKS of the svcid user is not checked"
fi
if pt svcid-agent alice authenticate <<< "$good"; then
        cat "$T/out"
        fail "a JWKS owned by uid $OWNER, no svcid user, was trusted"
fi
# (" or svcid" where this host has that user)
grep -q "is owned by uid $OWNER, not root\( or svcid\)\?$" "$T/out" || { cat "$T/out"; fail "no log line for the JWKS's owner"; }
ok "owned by uid $OWNER, not the svcid user: refused"

echo "== a bad argument is a service error, logged with the argument quoted"
if pt svcid-badarg alice authenticate <<< "$good"; then
        cat "$T/out"
        fail "bad argument accepted"
fi
grep -q 'bad module argument: argument "leeway=soon"' "$T/out" || { cat "$T/out"; fail "no log line for the bad argument"; }
ok "leeway=soon refused and logged"

echo "== the documented stack outlives the module (apt remove libpam-svcid)"
# pam_svcid(8)'s lines, as an administrator copies them into a service's
# file, with the module file gone: every account check of the service must
# not fail for it (default=bad would turn PAM_MODULE_UNKNOWN into a refusal
# of every user, root included).
SRC=${SVCID_SRC:-$(dirname "$0")/..}
gone=$T/removed/pam_svcid.so
{
        grep -E '^(auth|account|session) ' "$SRC/man/pam_svcid.8.scd" | head -n 3 |
                sed -E "s|pam_svcid\.so.*|$gone audience=$AUD|; /^(account|session) /s| audience=.*||"
        echo "auth     required  pam_permit.so"
        echo "account  required  pam_permit.so"
        echo "session  required  pam_permit.so"
} > "$T/pam.d/svcid-gone"
grep -q "^account .*module_unknown=ignore.* $gone\$" "$T/pam.d/svcid-gone" ||
        { cat "$T/pam.d/svcid-gone"; fail "no account line taken from pam_svcid(8)"; }
expect_ok "module removed: auth, account and session still work" \
        pt svcid-gone alice authenticate acct_mgmt open_session close_session < /dev/null

echo "t_pam_pamtester: all checks passed"
