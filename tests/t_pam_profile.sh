#!/bin/bash
# SPDX-License-Identifier: MIT
# The pam-auth-update profile (packaging/pam-configs/svcid), for real: the
# real pam-auth-update enables it into common-auth/-account/-session, and
# the real Linux-PAM (pamtester, no wrapper) runs a service that includes
# them, with the module installed as plain "pam_svcid.so" and its default
# trust (/etc/svcid/trust.d). A token for login:<this host> logs in; the
# account and session stacks pass; a password typed at the token prompt
# still reaches pam_unix (try_first_pass); refusals are audited. Then
# this host's own /var/lib/svcid/jwks.json: the profile does not trust it
# (a token from the local agent would let any local process pass sudo as
# its own user), while a line without trust= does, and fails closed when
# someone other than the agent's "svcid" user owns it.
#
# Everything happens in a private mount namespace over copies: /etc,
# /usr/share/pam-configs, /var/lib/pam, /var/cache/debconf (where
# pam-auth-update keeps the profiles chosen) and the PAM module directory
# are bind-mounted copies there, so the machine's PAM configuration, its
# choices, accounts and module directory are never changed.
set -euo pipefail

PAM_TEST_PRIVATE_MOUNTS=1
. "$(dirname "$0")/t_pam_common.sh"

command -v pam-auth-update >/dev/null || skip "pam-auth-update (libpam-runtime) not installed"
command -v pamtester >/dev/null || skip "pamtester not installed"
UNIX=$(ls /lib/*/security/pam_unix.so /usr/lib/*/security/pam_unix.so 2>/dev/null | head -n1)
[ -n "$UNIX" ] || skip "pam_unix.so not found"
SECDIR=$(dirname "$(readlink -f "$UNIX")")

private_syslog

echo "== private copies of /etc, the profiles, pam-auth-update's state and $SECDIR"
cp -a /etc "$T/etc"
mkdir -p "$T/pam-configs" "$T/varlibpam" "$T/debconf" "$T/security"
cp -a /usr/share/pam-configs/. "$T/pam-configs/"
install -m 0644 "$SVCID_SRC/packaging/pam-configs/svcid" "$T/pam-configs/svcid"
[ -d /var/lib/pam ] && cp -a /var/lib/pam/. "$T/varlibpam/"
cp -a /var/cache/debconf/. "$T/debconf/"
DEBCONF_SUM=$(sha256sum < /var/cache/debconf/config.dat)
cp -a "$SECDIR/." "$T/security/"
install -m 0644 "$MODULE" "$T/security/pam_svcid.so"
# The default trust, and a test account with a known password.
rm -rf "$T/etc/svcid"
install -d -m 0755 "$T/etc/svcid" "$T/etc/svcid/trust.d"
install -m 0644 "$TRUST/test.jwks" "$T/etc/svcid/trust.d/test.jwks"
USER_NAME=svcidp$$
echo "$USER_NAME:x:4242:4242::/:/bin/sh" >> "$T/etc/passwd"
echo "$USER_NAME:$(openssl passwd -6 correct-horse):19000:0:99999:7:::" >> "$T/etc/shadow"
cat > "$T/etc/pam.d/svcid-profile" <<'EOF'
@include common-auth
@include common-account
@include common-session
EOF
mount --bind "$T/etc" /etc
mount --bind "$T/pam-configs" /usr/share/pam-configs
[ -d /var/lib/pam ] && mount --bind "$T/varlibpam" /var/lib/pam
mount --bind "$T/debconf" /var/cache/debconf
mount --bind "$T/security" "$SECDIR"
# This host's own JWKS is the other default source; keep the machine's out.
if [ -d /var/lib/svcid ]; then
        mkdir "$T/varlibsvcid"
        mount --bind "$T/varlibsvcid" /var/lib/svcid
fi

echo "== pam-auth-update --enable svcid"
DEBIAN_FRONTEND=noninteractive pam-auth-update --package --enable svcid
grep -q "pam_svcid.so audience=login:%H trust=/etc/svcid/trust.d" /etc/pam.d/common-auth || { cat /etc/pam.d/common-auth; fail "common-auth lacks pam_svcid"; }
awk '/pam_svcid.so/ { s = NR } /pam_unix.so/ { u = NR } END { exit !(s && u && s < u) }' /etc/pam.d/common-auth ||
        { cat /etc/pam.d/common-auth; fail "pam_svcid does not come before pam_unix in common-auth"; }
grep -q "pam_svcid.so" /etc/pam.d/common-account || fail "common-account lacks pam_svcid"
grep -q "pam_svcid.so" /etc/pam.d/common-session || fail "common-session lacks pam_svcid"
# What pam-auth-update chose went to the copy, not to the machine's
# debconf, which would enable the profile at its next real run (seen from
# the parent, outside this mount namespace).
grep -q '^Value: .*svcid' "$T/debconf/config.dat" || fail "the profile chosen is not in the private debconf"
[ "$(sha256sum < "/proc/$PPID/root/var/cache/debconf/config.dat")" = "$DEBCONF_SUM" ] ||
        fail "pam-auth-update changed the machine's debconf"
ok "profile enabled: auth before pam_unix, account and session lines"

pt() {
        LD_PRELOAD="$(pam_preload)" ASAN_OPTIONS=detect_leaks=0 pamtester -v svcid-profile "$USER_NAME" "$@" \
                > "$T/out" 2>&1
}
show() { echo "--- pamtester:"; cat "$T/out"; echo "--- syslog:"; tail -n 20 "$LOG"; }

AUD=login:$(hostname)
echo "== a token for $AUD"
: > "$LOG"
pt authenticate acct_mgmt open_session close_session <<< "$(mint "$USER_NAME" "$AUD")" || { show; fail "token refused"; }
log_has "accepted: reason=ok .*sub=\"$USER_NAME\"" || { show; fail "no accepted audit line"; }
ok "token accepted through common-auth, common-account and common-session"

echo "== a password at the token prompt still reaches pam_unix"
if [ -n "$(pam_preload)" ]; then
        # ASan's crypt() interceptor has no real crypt() to call when
        # libcrypt arrives later with pam_unix: it crashes in pam_unix.
        echo "note: sanitizer build: pam_unix's password check is left to the plain build"
else
        pt authenticate acct_mgmt <<< "correct-horse" || { show; fail "password refused"; }
        ok "password accepted by pam_unix after pam_svcid declined it"
fi

echo "== refusals"
: > "$LOG"
if pt authenticate <<< "$(mint "$USER_NAME" ssh:elsewhere)"; then show; fail "wrong-audience token accepted"; fi
log_has "refused: reason=wrong_audience .*user=\"$USER_NAME\"" || { show; fail "no wrong_audience audit line"; }
ok "wrong audience refused and audited"
if [ -z "$(pam_preload)" ]; then        # pam_unix runs here too (see above)
        : > "$LOG"
        if pt authenticate <<< "wrong-password"; then show; fail "wrong password accepted"; fi
        log_has "refused: reason=malformed" || { show; fail "no audit line for the non-token"; }
        ok "a wrong password is refused by both"
fi

echo "== this host's own /var/lib/svcid/jwks.json, written by the agent's user"
# /var/lib becomes an empty tmpfs in this namespace (pam-auth-update is
# done with it). The "svcid" user is the machine's when the packages made
# one, else it is added to the private /etc/passwd only.
SVCID_UID=$(getent passwd svcid | cut -d: -f3 || true)
if [ -z "$SVCID_UID" ]; then
        SVCID_UID=4243
        echo "svcid:x:$SVCID_UID:$SVCID_UID::/var/lib/svcid:/usr/sbin/nologin" >> /etc/passwd
fi
OTHER_UID=$((SVCID_UID + 1))
mount -t tmpfs -o mode=0755 tmpfs /var/lib
install -d -m 0755 -o "$SVCID_UID" -g 0 /var/lib/svcid
install -m 0644 -o "$SVCID_UID" -g 0 "$T/keys/svcid___untrusted_example.jwks" /var/lib/svcid/jwks.json
: > "$LOG"
if pt authenticate <<< "$(mint_untrusted "$USER_NAME" "$AUD")"; then show; fail "the profile accepted the local issuer's token"; fi
log_has "refused: reason=unknown_issuer iss=\"svcid://untrusted.example\"" || { show; fail "no unknown_issuer line for the local issuer"; }
ok "the profile refuses a token of this host's own issuer (it trusts trust.d alone)"

# A line of the module's own defaults: trust.d plus this host's jwks.json.
printf 'auth required pam_svcid.so audience=%s\n' "$AUD" > /etc/pam.d/svcid-defaults
ptd() {
        LD_PRELOAD="$(pam_preload)" ASAN_OPTIONS=detect_leaks=0 pamtester -v svcid-defaults "$USER_NAME" "$@" \
                > "$T/out" 2>&1
}
: > "$LOG"
ptd authenticate <<< "$(mint_untrusted "$USER_NAME" "$AUD")" || { show; fail "local issuer's token refused by the defaults"; }
log_has "accepted: reason=ok iss=\"svcid://untrusted.example\"" || { show; fail "no accepted line for the local issuer"; }
ok "without trust=, a token of the local issuer (jwks.json owned by svcid): accepted"
ptd authenticate <<< "$(mint "$USER_NAME" "$AUD")" || { show; fail "trust.d token refused beside jwks.json"; }
ok "trust.d's issuer still accepted beside it"
chown "$OTHER_UID" /var/lib/svcid/jwks.json
: > "$LOG"
if ptd authenticate <<< "$(mint "$USER_NAME" "$AUD")"; then show; fail "accepted with an unsafe jwks.json"; fi
log_has "trust: .*jwks.json.* is owned by uid $OTHER_UID, not root or svcid" || { show; fail "no log line for the unsafe jwks.json"; }
ok "jwks.json owned by another user: refused (fail closed), and logged"

echo "== the profile with nothing in trust.d yet"
rm /etc/svcid/trust.d/test.jwks
if [ -z "$(pam_preload)" ]; then        # pam_unix runs here (see above)
        : > "$LOG"
        pt authenticate acct_mgmt <<< "correct-horse" || { show; fail "password refused with an empty trust.d"; }
        log_has "trust: no trusted issuer key in /etc/svcid/trust.d" ||
                { show; fail "no log line for the empty trust.d"; }
        ok "an empty trust.d is logged, and the password still reaches pam_unix"
fi

echo "t_pam_profile: all checks passed"
