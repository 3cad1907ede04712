#!/bin/bash
# SPDX-License-Identifier: MIT
# The Debian packages, for real: `make deb` builds them (reused when newer
# than every source), lintian finds no error and no warning, `make rpm`
# builds the RPM split, and `make install DESTDIR=` lays out the very
# files, modes and links the packages ship. Then dpkg -i on this machine:
# files where the packages say with their owners and modes, the svcid user
# and state directory from sysusers.d/tmpfiles.d, the socket (not the
# service) enabled, the units pass systemd-analyze verify and the service's
# exposure is at most 2.0; the installed agent, run as the unit would (the
# svcid user, socket activation, no network, no capabilities, UMask 0077),
# mints for `svcid token -a x` with no options, and the installed `svcid
# verify -a x` accepts it with the default trust; every system call the
# agent makes is one the unit's SystemCallFilter allows (strace, as there
# is no systemd here to apply the filter); libsvcid-dev builds a
# program; pam-auth-update enables the profile into common-auth and takes it
# out again, and removing libpam-svcid takes it out too; an upgrade keeps
# the keys and an edited config, and so do a remove and an install over
# it; purging removes what the packages made
# (the svcid user stays, as Debian keeps system users; the test removes it).
#
# The test runs in its own mount namespace with private copies of
# /etc/pam.d, /var/lib/pam and /var/cache/debconf (where pam-auth-update
# keeps its choice of profiles), so whatever happens the machine's PAM
# configuration is never changed. Needs root; skips if svcid is already
# installed here or the packaging tools are missing.
set -euo pipefail

# grep -q after a pipe may close it early: with pipefail, the writer's
# SIGPIPE would fail the test. has reads all its input.
has() { grep "$@" > /dev/null; }

: "${SVCID_SRC:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${SVCID_BUILD:=$SVCID_SRC/build}"
export SVCID_SRC SVCID_BUILD
. "$SVCID_SRC/tests/t_common.sh"     # skip, fail, ok, mk, build_debs

[ "$(id -u)" -eq 0 ] || skip "installs packages with dpkg: needs root"
case "$SVCID_BUILD" in
*/asan) skip "the packages are built without sanitizers; the plain make check installs them" ;;
esac
for tool in dpkg-buildpackage dh lintian fakeroot systemd-socket-activate systemd-analyze \
            unshare setpriv runuser pam-auth-update pamtester jq cc; do
        command -v "$tool" >/dev/null || skip "$tool not installed (make deps installs it)"
done
missing=$(dpkg-checkbuilddeps "$SVCID_SRC/packaging/debian/control" 2>&1) ||
        skip "the packages' build dependencies are missing (make deps installs them): $missing"

PKGS="libsvcid1 libsvcid-dev svcid svcid-agent libpam-svcid"
for p in $PKGS; do
        if dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | has 'ok installed\|config-files'; then
                skip "$p is already installed here; this test installs and purges its own"
        fi
done
for d in /etc/svcid /var/lib/svcid /run/svcid; do
        [ ! -e "$d" ] || skip "$d exists here; this test must not touch a real svcid installation"
done

# Everything below in a private mount namespace (see above).
if [ -z "${SVCID_PKG_NS:-}" ]; then
        exec unshare --mount --propagation private env SVCID_PKG_NS=1 bash "$0"
fi

VERSION=$(sed -n 's/^VERSION *:= *//p' "$SVCID_SRC/Makefile")
ARCH=$(dpkg --print-architecture)
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
[ -n "$VERSION" ] || fail "no VERSION in Makefile"

T=$(mktemp -d /tmp/svcid-pkg-test.XXXXXX)
chmod 755 "$T"
USER_EXISTED=0
getent passwd svcid >/dev/null && USER_EXISTED=1
AGENT_PID=

stop_agent() {
        if [ -n "$AGENT_PID" ]; then
                kill "$AGENT_PID" 2>/dev/null || true
                wait "$AGENT_PID" 2>/dev/null || true
                AGENT_PID=
        fi
}
cleanup() {
        local installed=
        set +e
        stop_agent
        for p in $PKGS; do
                dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | has 'ok installed\|config-files' && installed="$installed $p"
        done
        [ -z "$installed" ] || dpkg --purge $installed >/dev/null
        # Other tests may hold the passwd lock for a moment (useradd).
        for _ in 1 2 3 4 5 6 7 8 9 10; do
                [ "$USER_EXISTED" = 0 ] && getent passwd svcid >/dev/null || break
                userdel svcid && break
                sleep 1
        done
        for _ in 1 2 3 4 5 6 7 8 9 10; do
                [ "$USER_EXISTED" = 0 ] && getent group svcid >/dev/null || break
                groupdel svcid && break
                sleep 1
        done
        getent passwd svcid >/dev/null && [ "$USER_EXISTED" = 0 ] && echo "WARNING: could not remove the svcid user"
        rm -rf /etc/svcid /var/lib/svcid /run/svcid
        umount /etc/pam.d /var/lib/pam /var/cache/debconf 2>/dev/null
        rm -rf "$T"
}
trap cleanup EXIT

echo "== private copies of /etc/pam.d, /var/lib/pam and /var/cache/debconf"
mkdir -p "$T/pam.d" "$T/varlibpam" "$T/debconf" /var/lib/pam
cp -a /etc/pam.d/. "$T/pam.d/"
cp -a /var/lib/pam/. "$T/varlibpam/"
cp -a /var/cache/debconf/. "$T/debconf/"
mount --bind "$T/pam.d" /etc/pam.d
mount --bind "$T/varlibpam" /var/lib/pam
mount --bind "$T/debconf" /var/cache/debconf
grep -q pam_svcid /etc/pam.d/common-auth && fail "common-auth already names pam_svcid"

echo "== make deb"
build_debs
changes=$DEB/svcid_${VERSION}_${ARCH}.changes
debs=()
for p in $PKGS; do
        f=$DEB/${p}_${VERSION}_${ARCH}.deb
        [ -f "$f" ] || fail "make deb did not build $f"
        debs+=("$f")
done
ok "make deb built $PKGS"

echo "== lintian"
lintian --fail-on error,warning "$changes" > "$T/lintian.log" 2>&1 || {
        cat "$T/lintian.log"; fail "lintian reports errors or warnings"; }
if grep -E '^[EW]: ' "$T/lintian.log"; then fail "lintian reports errors or warnings"; fi
ok "lintian: no error, no warning"

echo "== make rpm"
if command -v rpmbuild >/dev/null; then
        mk rpm > "$T/rpm.log" 2>&1 || { tail -n 40 "$T/rpm.log"; fail "make rpm failed"; }
        for p in svcid svcid-libs svcid-devel svcid-agent pam_svcid; do
                ls "$SVCID_SRC"/build/rpm/RPMS/*/"$p-$VERSION"-*.rpm >/dev/null 2>&1 || fail "make rpm did not build $p"
        done
        agent_rpm=$(ls "$SVCID_SRC"/build/rpm/RPMS/*/svcid-agent-"$VERSION"-*.rpm)
        rpm -qlp "$agent_rpm" 2>/dev/null | has -x /usr/lib/systemd/system/svcid-agent.socket ||
                fail "svcid-agent.rpm lacks its socket unit"
        rpm -qcp "$agent_rpm" 2>/dev/null | has -x /etc/svcid/agent.conf ||
                fail "svcid-agent.rpm: agent.conf is not %config"
        rpm -qp --scripts "$agent_rpm" 2>/dev/null | has 'systemctl --no-reload preset svcid-agent.socket' ||
                fail "svcid-agent.rpm lacks its systemd scriptlets"
        # Without the systemd RPM macros, the stand-ins must reload units
        # before restarting the agent, or an upgrade runs the old unit.
        rpm -qp --scripts "$agent_rpm" 2>/dev/null |
                grep -q 'systemctl daemon-reload .*systemctl try-restart svcid-agent' ||
                fail "svcid-agent.rpm restarts the agent on upgrade without reloading its units first"
        ok "make rpm built svcid, svcid-libs, svcid-devel, svcid-agent, pam_svcid"
else
        echo "note: rpmbuild not installed; make rpm not tried"
fi

echo "== make install DESTDIR= lays out what the packages ship"
mk install DESTDIR="$T/inst" PREFIX=/usr SBINDIR=/usr/sbin LIBDIR="/usr/lib/$MA" \
        PAMDIR="/lib/$MA/security" UNITDIR=/lib/systemd/system > "$T/install.log" 2>&1 ||
        { tail -n 20 "$T/install.log"; fail "make install failed"; }
# "MODE PATH[ -> TARGET]" of every non-directory; the packages' man pages
# are gzipped and each has changelog.gz and copyright in its doc dir.
for f in "${debs[@]}"; do dpkg-deb -c "$f"; done |
        awk '$1 !~ /^d/ { p = $6; for (i = 7; i <= NF; i++) p = p " " $i; print $1, p }' |
        sed -e 's| \./| /|' -e 's|^\(\S* /usr/share/man/.*\)\.gz$|\1|' |
        grep -Ev ' /usr/share/doc/[^/]+/(changelog\.gz|copyright)$' | sort > "$T/pkg.list"
(cd "$T/inst" && find . ! -type d -printf '%M /%P\t%l\n') |
        awk -F'\t' '{ if ($2 != "") print $1 " -> " $2; else print $1 }' | sort > "$T/inst.list"
diff -u "$T/pkg.list" "$T/inst.list" || fail "make install DESTDIR= and the packages differ (- packages, + make install)"
ok "make install DESTDIR= = the packages: $(wc -l < "$T/pkg.list") files, same modes and links"
# Same contents too, for everything but the compiled files (built with
# other flags).
mkdir "$T/pkgroot"
for f in "${debs[@]}"; do dpkg-deb -x "$f" "$T/pkgroot"; done
n=0
while IFS= read -r -d '' f; do
        [ "$(head -c 4 "$T/inst/$f" | od -An -c | tr -d ' ')" = '177ELF' ] && continue
        if [ -f "$T/pkgroot/$f.gz" ] && [ ! -f "$T/pkgroot/$f" ]; then
                zcat "$T/pkgroot/$f.gz" | cmp -s - "$T/inst/$f" || fail "$f: make install and the package differ"
        else
                cmp -s "$T/pkgroot/$f" "$T/inst/$f" || fail "$f: make install and the package differ"
        fi
        n=$((n + 1))
done < <(cd "$T/inst" && find . -type f -print0)
[ "$n" -ge 15 ] || fail "only $n data files compared"
ok "make install DESTDIR= and the packages: the same $n data files (units, config, man pages, ...)"

echo "== make install PREFIX=/usr/local: units and examples name what it installed"
mk install DESTDIR="$T/local" PREFIX=/usr/local > "$T/install-local.log" 2>&1 ||
        { tail -n 20 "$T/install-local.log"; fail "make install PREFIX=/usr/local failed"; }
n=0
while IFS= read -r exe; do
        [ -x "$T/local$exe" ] || fail "an installed unit runs $exe, which make install PREFIX=/usr/local did not install"
        n=$((n + 1))
done < <(grep -rhoP --include='*.service' '^Exec[A-Za-z]*=\K\S*svcid\S*' "$T/local")
[ "$n" -ge 5 ] || fail "only $n Exec*= lines of svcid's in what make install PREFIX=/usr/local installed"
ok "make install PREFIX=/usr/local: the $n Exec*= lines of svcid's name programs it installed"

# An operator's agent.conf survives a second make install, as the
# package's conffile survives an upgrade.
echo '; the operator was here' >> "$T/local/etc/svcid/agent.conf"
mk install DESTDIR="$T/local" PREFIX=/usr/local > "$T/install-again.log" 2>&1 ||
        { tail -n 20 "$T/install-again.log"; fail "make install over an earlier one failed"; }
[ "$(tail -n 1 "$T/local/etc/svcid/agent.conf")" = '; the operator was here' ] ||
        fail "a second make install replaced the operator's agent.conf"
grep -q "^make install: kept $T/local/etc/svcid/agent.conf" "$T/install-again.log" ||
        fail "a second make install kept agent.conf without saying so"
ok "make install again: the operator's agent.conf kept, and said so"

echo "== dpkg -i"
dpkg -i "${debs[@]}" > "$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log"; fail "dpkg -i failed"; }
for p in $PKGS; do
        [ "$(dpkg-query -W -f='${Status} ${Version}' "$p")" = "install ok installed $VERSION" ] ||
                fail "$p is not installed at $VERSION"
done
ok "installed $PKGS"

echo "== files, owners and modes"
# PATH OWNER:GROUP MODE PACKAGE (- for files made at install time)
while read -r path own mode pkg; do
        [ -e "$path" ] || fail "$path missing"
        got="$(stat -c '%U:%G %a' "$path")"
        [ "$got" = "$own $mode" ] || fail "$path is $got, expected $own $mode"
        if [ "$pkg" != - ]; then
                owner=$(dpkg-query -S "$path" 2>/dev/null | cut -d: -f1)
                [ "$owner" = "$pkg" ] || fail "$path belongs to '$owner', expected $pkg"
        fi
done <<EOF
/usr/lib/$MA/libsvcid.so.1 root:root 644 libsvcid1
/usr/include/svcid/svcid.h root:root 644 libsvcid-dev
/usr/lib/$MA/pkgconfig/svcid.pc root:root 644 libsvcid-dev
/usr/share/man/man3/libsvcid.3.gz root:root 644 libsvcid-dev
/usr/bin/svcid root:root 755 svcid
/usr/bin/svcid-gate root:root 755 svcid
/usr/share/man/man1/svcid.1.gz root:root 644 svcid
/usr/share/man/man8/svcid-gate.8.gz root:root 644 svcid
/usr/share/doc/svcid/examples/svcid-gate-example.socket root:root 644 svcid
/usr/share/doc/svcid/examples/svcid-gate-example@.service root:root 644 svcid
/usr/sbin/svcid-agent root:root 755 svcid-agent
/etc/svcid/agent.conf root:root 644 svcid-agent
/lib/systemd/system/svcid-agent.socket root:root 644 svcid-agent
/lib/systemd/system/svcid-agent.service root:root 644 svcid-agent
/usr/lib/sysusers.d/svcid.conf root:root 644 svcid-agent
/usr/lib/tmpfiles.d/svcid.conf root:root 644 svcid-agent
/usr/share/man/man8/svcid-agent.8.gz root:root 644 svcid-agent
/usr/share/man/man5/svcid.conf.5.gz root:root 644 svcid-agent
/lib/$MA/security/pam_svcid.so root:root 644 libpam-svcid
/usr/share/pam-configs/svcid root:root 644 libpam-svcid
/usr/share/man/man8/pam_svcid.8.gz root:root 644 libpam-svcid
/var/lib/svcid svcid:svcid 755 -
/run/svcid svcid:svcid 755 -
/etc/svcid/trust.d root:root 755 -
EOF
# "libpam-svcid:amd64, svcid: /etc/svcid/trust.d": package names, sorted.
owners=$(dpkg-query -S /etc/svcid/trust.d | sed 's/: [^:]*$//; s/:[^,]*//g; s/, */\n/g' | sort | tr '\n' ' ')
[ "$owners" = "libpam-svcid svcid " ] ||
        fail "/etc/svcid/trust.d belongs to '$owners', expected libpam-svcid and svcid"
[ "$(readlink "/usr/lib/$MA/libsvcid.so")" = libsvcid.so.1 ] || fail "libsvcid.so does not point at libsvcid.so.1"
[ "$(dpkg-query -S "/usr/lib/$MA/libsvcid.so" | cut -d: -f1)" = libsvcid-dev ] || fail "libsvcid.so not in libsvcid-dev"
ok "every file where its package says, root-owned, 0755 programs, 0644 data"
dpkg-query -W -f='${Conffiles}\n' svcid-agent | has '^ /etc/svcid/agent.conf ' || fail "agent.conf is not a conffile"
cmp -s /etc/svcid/agent.conf "$SVCID_SRC/packaging/agent.conf" || fail "/etc/svcid/agent.conf is not packaging/agent.conf"
if grep -Ev '^\s*(;|#|$|\[agent\]$)' /etc/svcid/agent.conf; then fail "agent.conf sets something: every default must be commented"; fi
ok "/etc/svcid/agent.conf is a conffile with every default commented"

# --check-config as root also asks whether the unit's user can read it.
chmod 0600 /etc/svcid/agent.conf
svcid-agent --check-config >/dev/null 2>"$T/check.err" || fail "--check-config refused a file of mode 0600"
chmod 0644 /etc/svcid/agent.conf
grep -q "warning: /etc/svcid/agent.conf: user svcid, which the shipped unit runs the agent as, cannot read it" "$T/check.err" ||
        fail "no warning for an agent.conf svcid cannot read: $(cat "$T/check.err")"
svcid-agent --check-config >/dev/null 2>"$T/check.err"
grep -q "cannot read it" "$T/check.err" && fail "a warning for an agent.conf svcid can read"
ok "svcid-agent --check-config warns when user svcid cannot read agent.conf (mode 0600), not at 0644"
[ -f "/var/lib/dpkg/info/libsvcid1:$ARCH.symbols" ] || fail "libsvcid1 has no symbols file"
grep -q ' svcid_verify@LIBSVCID_1 ' "/var/lib/dpkg/info/libsvcid1:$ARCH.symbols" || fail "symbols file lacks svcid_verify"
ok "libsvcid1 ships a symbols file"
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd svcid) || fail "no svcid user"
[ "$uid" -lt 1000 ] && [ "$home" = /var/lib/svcid ] && [ "$shell" = /usr/sbin/nologin ] ||
        fail "svcid user: uid $uid home $home shell $shell"
ok "svcid system user (uid $uid, no login) from sysusers.d"

echo "== units"
[ -L /etc/systemd/system/sockets.target.wants/svcid-agent.socket ] || fail "svcid-agent.socket not enabled"
if find /etc/systemd/system -name svcid-agent.service | grep .; then fail "svcid-agent.service enabled: only its socket should be"; fi
ok "the socket is enabled, the service is not"
man_opt=()
command -v man >/dev/null || man_opt=(--man=no)
systemd-analyze verify "${man_opt[@]}" /lib/systemd/system/svcid-agent.socket \
        /lib/systemd/system/svcid-agent.service || fail "systemd-analyze verify failed on the agent's units"
mkdir "$T/examples"
cp /usr/share/doc/svcid/examples/* "$T/examples/"
(cd "$T/examples" && systemd-analyze verify --man=no ./*.socket ./*.service) ||
        fail "systemd-analyze verify failed on the gate examples"
ok "systemd-analyze verify: agent units and gate examples"
exposure=$(systemd-analyze security --offline=true /lib/systemd/system/svcid-agent.service 2>&1 |
           sed -n 's/.*Overall exposure level for svcid-agent.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "systemd-analyze security printed no exposure"
awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' || fail "svcid-agent.service exposure $exposure > 2.0"
ok "systemd-analyze security svcid-agent.service: exposure $exposure"
for opt in 'ProtectProc=invisible' 'PrivateUsers=yes' 'ProcSubset=pid'; do
        if grep -qx "$opt" /lib/systemd/system/svcid-agent.service; then fail "the agent needs other processes' /proc and real uids: $opt"; fi
done

start_agent() {
        # As the unit runs it: the svcid user, its socket from the
        # activator, no network, no capabilities, UMask=0077.
        rm -f /run/svcid/agent.sock
        (umask 077; exec systemd-socket-activate -l /run/svcid/agent.sock --fdname=agent \
                unshare --net setpriv --reuid=svcid --regid=svcid --clear-groups \
                --no-new-privs --bounding-set=-all --inh-caps=-all \
                /usr/sbin/svcid-agent) >> "$T/agent.log" 2>&1 &
        AGENT_PID=$!
        for _ in $(seq 300); do [ -S /run/svcid/agent.sock ] && break; sleep 0.1; done
        [ -S /run/svcid/agent.sock ] || { cat "$T/agent.log"; fail "the activator made no /run/svcid/agent.sock"; }
        chmod 666 /run/svcid/agent.sock     # SocketMode=0666
}
token() { env -u SVCID_AGENT_SOCKET "$@"; }

echo "== the installed agent, config and CLI"
runuser -u svcid -- /usr/sbin/svcid-agent --check-config > "$T/check.log" 2>&1 ||
        { cat "$T/check.log"; fail "svcid-agent --check-config rejects the installed config"; }
start_agent
token svcid token -a x > "$T/tok.root" || { cat "$T/agent.log"; fail "svcid token -a x failed"; }
token runuser -u nobody -- svcid token -a x > "$T/tok.nobody" || { cat "$T/agent.log"; fail "svcid token -a x as nobody failed"; }
ok "svcid token -a x with no options (default socket), as root and as nobody"
svcid verify -a x < "$T/tok.root" > "$T/claims.root" || fail "svcid verify -a x rejects the agent's token"
runuser -u nobody -- env -u SVCID_AGENT_SOCKET svcid verify -a x - < "$T/tok.nobody" > "$T/claims.nobody" ||
        fail "svcid verify -a x, as nobody, rejects the agent's token"
[ "$(jq -r .sub "$T/claims.root")" = root ] || fail "root's token: sub $(jq -r .sub "$T/claims.root")"
[ "$(jq -r .sub "$T/claims.nobody")" = nobody ] || fail "nobody's token: sub $(jq -r .sub "$T/claims.nobody")"
[ "$(jq -r '.exp - .iat' "$T/claims.root")" = 300 ] || fail "ttl $(jq -r '.exp - .iat' "$T/claims.root"), not the default 300"
ok "svcid verify -a x accepts them with the default trust (sub root / nobody, ttl 300)"
if svcid verify -a y < "$T/tok.root" > /dev/null 2> "$T/err"; then fail "verify -a y accepted a token for x"; fi
grep -q 'svcid: rejected: wrong_audience' "$T/err" || fail "verify -a y: $(cat "$T/err")"
bad=$(sed 's/.$//' "$T/tok.root")
if svcid verify -a x "$bad" > /dev/null 2> "$T/err"; then fail "verify accepted a cut token"; fi
grep -q 'svcid: rejected: ' "$T/err" || fail "cut token: $(cat "$T/err")"
ok "refused: another audience (wrong_audience), a cut token ($(sed 's/.*rejected: \([a-z_]*\).*/\1/' "$T/err"))"
while read -r path own mode; do
        got="$(stat -c '%U:%G %a' "$path")"
        [ "$got" = "$own $mode" ] || fail "$path is $got, expected $own $mode"
done <<EOF
/var/lib/svcid/keys svcid:svcid 700
/var/lib/svcid/jwks.json svcid:svcid 644
EOF
for f in /var/lib/svcid/keys/*; do
        [ "$(stat -c '%U %a' "$f")" = "svcid 600" ] || fail "$f is $(stat -c '%U %a' "$f")"
done
ok "the agent's state: keys/ svcid 0700, key files 0600, jwks.json 0644"

echo "== the agent's system calls against the unit's SystemCallFilter"
# No systemd here to apply the filter: record every system call the
# installed agent makes (start, mints, JWKS, health, reload, rotation,
# stop) and check each is one the unit allows, and that it opens no
# socket but AF_UNIX (RestrictAddressFamilies=AF_UNIX).
if command -v strace >/dev/null && command -v python3 >/dev/null && strace -f -qq -o /dev/null true 2>/dev/null; then
        install -d -o svcid -g svcid -m 0755 "$T/sc" "$T/sc/state"
        (umask 077; exec strace -f -qq -o "$T/sc/trace" unshare --net setpriv --reuid=svcid --regid=svcid \
                --clear-groups --no-new-privs --bounding-set=-all --inh-caps=-all \
                /usr/sbin/svcid-agent --state-dir "$T/sc/state" --socket "$T/sc/sock" --log-target=stderr) \
                > "$T/sc/log" 2>&1 &
        st_pid=$!
        for _ in $(seq 300); do [ -S "$T/sc/sock" ] && break; sleep 0.1; done
        [ -S "$T/sc/sock" ] || { cat "$T/sc/log"; fail "the agent under strace made no socket"; }
        chmod 666 "$T/sc/sock"
        SVCID_AGENT_SOCKET=$T/sc/sock svcid token -a x > /dev/null || fail "mint under strace failed"
        SVCID_AGENT_SOCKET=$T/sc/sock runuser -u nobody -- svcid token -a x > /dev/null || fail "mint under strace failed"
        SVCID_AGENT_SOCKET=$T/sc/sock svcid jwks > /dev/null || fail "jwks under strace failed"
        agent=$(pgrep -P "$st_pid")
        [ -n "$agent" ] || fail "no agent under strace"
        kill -HUP "$agent"
        SVCID_AGENT_SOCKET=$T/sc/sock svcid token -a x > /dev/null || fail "mint after SIGHUP failed"
        kill -USR2 "$agent"
        SVCID_AGENT_SOCKET=$T/sc/sock svcid token -a x > /dev/null || fail "mint after SIGUSR2 failed"
        kill -TERM "$agent"
        wait "$st_pid" || { cat "$T/sc/log"; fail "the agent under strace did not stop cleanly"; }
        grep -q 'forced key rotation' "$T/sc/log" || { cat "$T/sc/log"; fail "SIGUSR2 did not rotate"; }
        systemd-analyze syscall-filter > "$T/sc/groups" 2>/dev/null
        python3 - "$T/sc/trace" "$T/sc/groups" /lib/systemd/system/svcid-agent.service <<'PY' || fail "the agent makes system calls its unit forbids"
import re, sys
trace, groups_file, unit = sys.argv[1:]
groups, cur = {}, None
for line in open(groups_file):
    s = line.strip()
    if not s or s.startswith('#'):
        continue
    if not line[0].isspace():
        cur = s.split()[0]; groups[cur] = set(); continue
    groups[cur].add(s.split()[0])
def expand(names):
    out = set()
    for n in names:
        out |= expand(groups[n]) if n.startswith('@') else {n}
    return out
allow, deny = None, set()
for line in open(unit):
    m = re.match(r'SystemCallFilter=(~?)(.*)', line.strip())
    if not m:
        continue
    names = expand(m.group(2).split())
    if m.group(1):
        deny |= names
    else:
        allow = names if allow is None else allow | names
assert allow, "the unit has no SystemCallFilter allow-list"
used, families, started = set(), set(), False
for line in open(trace):
    line = re.sub(r'^\d+ +', '', line)
    if not started:
        started = line.startswith('execve("/usr/sbin/svcid-agent"') and '= 0' in line
        continue
    m = re.match(r'([a-z0-9_]+)\(', line)
    if m:
        used.add(m.group(1))
        if m.group(1) in ('socket', 'socketpair'):
            families.add(line.split('(', 1)[1].split(',', 1)[0])
assert started, "no execve of the agent in the trace"
bad = sorted(s for s in used if s not in allow or s in deny)
print("%d distinct system calls, socket families %s" % (len(used), sorted(families) or "none"))
if bad:
    print("forbidden by the unit:", " ".join(bad)); sys.exit(1)
if families - {'AF_UNIX'}:
    print("sockets other than AF_UNIX:", families); sys.exit(1)
PY
        ok "every system call of the agent is within SystemCallFilter, sockets AF_UNIX only"
else
        echo "note: strace or python3 missing, or ptrace not allowed here; the agent's system calls not checked"
fi

echo "== libsvcid-dev"
cat > "$T/v.c" <<'C'
#include <stdio.h>
#include <svcid/svcid.h>
int main(void) { puts(svcid_version()); return 0; }
C
# shellcheck disable=SC2046
cc -o "$T/v" "$T/v.c" $(pkg-config --cflags --libs svcid) || fail "cannot build against libsvcid-dev"
[ "$("$T/v")" = "$VERSION" ] || fail "libsvcid says version $("$T/v")"
ldd "$T/v" | has -E "libsvcid\.so\.1 => (/usr)?/lib/$MA/libsvcid\.so\.1 " || fail "not linked to the installed libsvcid.so.1"
ok "a program builds with pkg-config svcid and runs on libsvcid.so.1 ($VERSION)"

echo "== pam-auth-update"
grep -q pam_svcid /etc/pam.d/common-auth && fail "installing libpam-svcid enabled its profile (Default: no)"
DEBIAN_FRONTEND=noninteractive pam-auth-update --enable svcid
grep -q '^auth.*pam_svcid.so audience=login:%H trust=/etc/svcid/trust.d' /etc/pam.d/common-auth || fail "--enable svcid: not in common-auth"
grep -q '^account.*pam_svcid.so' /etc/pam.d/common-account || fail "--enable svcid: not in common-account"
grep -q '^session.*pam_svcid.so' /etc/pam.d/common-session || fail "--enable svcid: not in common-session"
ok "pam-auth-update --enable svcid puts pam_svcid into common-auth, -account, -session"
# The whole path: the installed agent's token as the password of a real
# PAM service through the enabled common-auth and the installed module.
cat > "$T/pam.d/svcid-pkgtest" <<'EOF'
@include common-auth
@include common-account
EOF
# The profile trusts /etc/svcid/trust.d alone: this host's own agent
# mints login:<host> for any local user naming itself, which would let
# any process pass sudo as its own user.
login_tok=$(token svcid token -a "login:$(hostname)")
if printf '%s\n' "$login_tok" | pamtester svcid-pkgtest root authenticate > "$T/pamtester.log" 2>&1; then
        fail "the profile accepted a token of this host's own agent, which trust.d does not name"
fi
ok "through the enabled common-auth, a token of this host's own agent is refused (not in trust.d)"
# Trusted explicitly (here a snapshot of its JWKS), it logs in.
token svcid jwks > /etc/svcid/trust.d/self.jwks
printf '%s\n' "$login_tok" | pamtester svcid-pkgtest root authenticate acct_mgmt > "$T/pamtester.log" 2>&1 ||
        { cat "$T/pamtester.log"; fail "the agent's token for login:$(hostname) does not log in through common-auth"; }
if printf '%s\n' "$(token svcid token -a "login:elsewhere")" |
        pamtester svcid-pkgtest root authenticate > "$T/pamtester.log" 2>&1; then
        fail "a token for another audience logged in"
fi
rm /etc/svcid/trust.d/self.jwks
ok "with its JWKS in trust.d, the agent's token for login:$(hostname) logs in; one for another host does not"
DEBIAN_FRONTEND=noninteractive pam-auth-update --remove svcid
if grep -l pam_svcid /etc/pam.d/common-*; then fail "pam-auth-update --remove svcid left pam_svcid behind"; fi
ok "pam-auth-update --remove svcid takes it out"
DEBIAN_FRONTEND=noninteractive pam-auth-update --enable svcid
grep -q pam_svcid /etc/pam.d/common-auth || fail "--enable svcid (again): not in common-auth"
dpkg -r libpam-svcid > "$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log"; fail "dpkg -r libpam-svcid failed"; }
if grep -l pam_svcid /etc/pam.d/common-*; then fail "removing libpam-svcid left pam_svcid in the stacks"; fi
ok "removing libpam-svcid takes it out of the stacks (prerm: pam-auth-update --package --remove)"

echo "== upgrade"
sed -i 's/^;default_ttl = 300$/default_ttl = 120/' /etc/svcid/agent.conf
grep -qx 'default_ttl = 120' /etc/svcid/agent.conf || fail "could not edit agent.conf"
(cd /var/lib/svcid && sha256sum keys/* jwks.json) > "$T/state.before"
stop_agent
NEW=$VERSION+pkgtest1
new_debs=()
for f in "${debs[@]}"; do
        d=$T/repack/$(basename "$f" .deb)
        mkdir -p "$d"
        dpkg-deb -R "$f" "$d"
        sed -i -e "s/^Version: .*/Version: $NEW/" -e "s/(= $VERSION)/(= $NEW)/g" "$d/DEBIAN/control"
        dpkg-deb -b "$d" "$d.deb" > /dev/null
        new_debs+=("$d.deb")
done
dpkg -i "${new_debs[@]}" > "$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log"; fail "upgrade to $NEW failed"; }
for p in $PKGS; do
        [ "$(dpkg-query -W -f='${Status} ${Version}' "$p")" = "install ok installed $NEW" ] || fail "$p not upgraded to $NEW"
done
grep -qx 'default_ttl = 120' /etc/svcid/agent.conf || fail "the upgrade lost the edit to agent.conf"
if ls /etc/svcid/agent.conf.dpkg-* 2>/dev/null; then fail "the upgrade left agent.conf.dpkg-* behind"; fi
(cd /var/lib/svcid && sha256sum keys/* jwks.json) > "$T/state.after"
diff "$T/state.before" "$T/state.after" || fail "the upgrade changed the keys or jwks.json"
ok "upgrade $VERSION -> $NEW keeps the edited agent.conf, the keys and jwks.json"
start_agent
svcid verify -a x < "$T/tok.root" > /dev/null || fail "after the upgrade, a token from before no longer verifies"
token svcid token -a x > "$T/tok.new" || { cat "$T/agent.log"; fail "svcid token after the upgrade failed"; }
svcid verify -a x < "$T/tok.new" > "$T/claims.new" || fail "after the upgrade, a new token does not verify"
[ "$(jq -r '.exp - .iat' "$T/claims.new")" = 120 ] || fail "after the upgrade ttl is $(jq -r '.exp - .iat' "$T/claims.new"), not the configured 120"
(cd /var/lib/svcid && sha256sum keys/* jwks.json) > "$T/state.after"
diff "$T/state.before" "$T/state.after" || fail "the upgraded agent made new keys instead of using the kept ones"
ok "the upgraded agent uses the kept keys and config: old and new tokens verify, ttl 120"
stop_agent

echo "== remove, then install again"
# apt remove (no purge) keeps what an operator made and the agent's keys;
# installing again over it uses them, as an upgrade does.
agent_deb=$(printf '%s\n' "${new_debs[@]}" | grep '/svcid-agent_')
dpkg -r svcid-agent > "$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log"; fail "dpkg -r svcid-agent failed"; }
[ "$(dpkg-query -W -f='${Status}' svcid-agent)" = "deinstall ok config-files" ] ||
        fail "svcid-agent after dpkg -r: $(dpkg-query -W -f='${Status}' svcid-agent)"
[ ! -e /usr/sbin/svcid-agent ] || fail "dpkg -r svcid-agent left /usr/sbin/svcid-agent"
grep -qx 'default_ttl = 120' /etc/svcid/agent.conf 2>/dev/null || fail "dpkg -r svcid-agent lost the edited agent.conf"
(cd /var/lib/svcid 2>/dev/null && sha256sum keys/* jwks.json) > "$T/state.removed" ||
        fail "dpkg -r svcid-agent removed the keys or jwks.json"
diff "$T/state.before" "$T/state.removed" || fail "dpkg -r svcid-agent changed the keys or jwks.json"
getent passwd svcid >/dev/null || fail "dpkg -r svcid-agent removed the svcid user"
ok "dpkg -r svcid-agent keeps the edited agent.conf, the keys, jwks.json and the svcid user"
dpkg -i "$agent_deb" > "$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log"; fail "installing svcid-agent again failed"; }
[ "$(dpkg-query -W -f='${Status} ${Version}' svcid-agent)" = "install ok installed $NEW" ] ||
        fail "svcid-agent is not installed again at $NEW"
grep -qx 'default_ttl = 120' /etc/svcid/agent.conf || fail "installing again lost the edit to agent.conf"
if ls /etc/svcid/agent.conf.dpkg-* 2>/dev/null; then fail "installing again left agent.conf.dpkg-* behind"; fi
start_agent
token svcid token -a x > "$T/tok.again" || { cat "$T/agent.log"; fail "svcid token after installing again failed"; }
svcid verify -a x < "$T/tok.again" > "$T/claims.again" || fail "after installing again, a new token does not verify"
[ "$(jq -r '.exp - .iat' "$T/claims.again")" = 120 ] || fail "after installing again ttl is $(jq -r '.exp - .iat' "$T/claims.again"), not the configured 120"
(cd /var/lib/svcid && sha256sum keys/* jwks.json) > "$T/state.after"
diff "$T/state.before" "$T/state.after" || fail "the agent installed again made new keys instead of using the kept ones"
ok "svcid-agent installed again over the removed one: same keys, the edited config applies (ttl 120)"
stop_agent

echo "== a chrootless install and purge into another root leave this host's agent and PAM stacks alone"
# mmdebstrap's way: dpkg --root with the maintainer scripts run outside,
# DPKG_ROOT naming the target. The purge must remove the target's
# state, not this host's keys.
R=$T/dpkg-root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/etc" "$R/run" "$R/var/lib"
touch "$R/var/lib/dpkg/status"
cp /etc/passwd /etc/group /etc/shadow /etc/gshadow "$R/etc/"
(cd /var/lib/svcid && sha256sum keys/* jwks.json) > "$T/host.before"
dpkg --root="$R" --force-script-chrootless --force-depends -i "$agent_deb" > "$T/dpkg.log" 2>&1 ||
        { cat "$T/dpkg.log"; fail "chrootless install of svcid-agent failed"; }
[ -f "$R/etc/svcid/agent.conf" ] || fail "chrootless install: no agent.conf in the target"
mkdir -p "$R/var/lib/svcid" "$R/run/svcid"
dpkg --root="$R" --force-script-chrootless --force-depends --purge svcid-agent > "$T/dpkg.log" 2>&1 ||
        { cat "$T/dpkg.log"; fail "chrootless purge of svcid-agent failed"; }
[ ! -e "$R/var/lib/svcid" ] && [ ! -e "$R/run/svcid" ] || fail "chrootless purge left the target's state"
[ -d /run/svcid ] || fail "chrootless purge removed this host's /run/svcid"
(cd /var/lib/svcid && sha256sum keys/* jwks.json) > "$T/host.after" || fail "chrootless purge removed this host's keys"
diff "$T/host.before" "$T/host.after" || fail "chrootless purge changed this host's keys"
ok "dpkg --root purge removed the target's /var/lib/svcid and /run/svcid, not this host's"
# libpam-svcid's scripts run pam-auth-update on the target's stacks
# (--root), not this host's; debconf too is the target's (DPKG_ROOT).
mkdir -p "$R/usr/share" "$R/var/cache"
cp -a /etc/pam.d /etc/debconf.conf "$R/etc/"
cp -a /var/cache/debconf "$R/var/cache/"
cp -a /usr/share/pam-configs "$R/usr/share/"
cp -a /var/lib/pam "$R/var/lib/"
rm -f "$R/usr/share/pam-configs/svcid"
sed -i '/^svcid$/d' "$R/var/lib/pam/seen"
if grep -l pam_svcid "$R"/etc/pam.d/common-*; then fail "the target's stacks name pam_svcid before its install"; fi
(cd / && sha256sum etc/pam.d/common-* var/lib/pam/seen) > "$T/hostpam.before"
pam_deb=$(printf '%s\n' "${new_debs[@]}" | grep '/libpam-svcid_')
dpkg --root="$R" --force-script-chrootless --force-depends -i "$pam_deb" > "$T/dpkg.log" 2>&1 ||
        { cat "$T/dpkg.log"; fail "chrootless install of libpam-svcid failed"; }
grep -qx svcid "$R/var/lib/pam/seen" || fail "chrootless install: the target's pam-auth-update did not see the profile"
DPKG_ROOT=$R DEBIAN_FRONTEND=noninteractive pam-auth-update --root "$R" --enable svcid
grep -q pam_svcid "$R/etc/pam.d/common-auth" || fail "pam-auth-update --root: not in the target's common-auth"
dpkg --root="$R" --force-script-chrootless --force-depends -r libpam-svcid > "$T/dpkg.log" 2>&1 ||
        { cat "$T/dpkg.log"; fail "chrootless removal of libpam-svcid failed"; }
if grep -l pam_svcid "$R"/etc/pam.d/common-*; then fail "chrootless removal of libpam-svcid left pam_svcid in the target's stacks"; fi
(cd / && sha256sum etc/pam.d/common-* var/lib/pam/seen) | diff "$T/hostpam.before" - ||
        fail "chrootless install or removal of libpam-svcid changed this host's PAM stacks"
ok "dpkg --root: libpam-svcid's profile registered in and taken out of the target's stacks, not this host's"

echo "== purge"
DEBIAN_FRONTEND=noninteractive pam-auth-update --enable svcid
dpkg --purge $PKGS > "$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log"; fail "dpkg --purge failed"; }
for p in $PKGS; do
        if dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | has 'ok installed\|config-files'; then fail "$p still installed"; fi
done
for path in /etc/svcid /var/lib/svcid /run/svcid /lib/systemd/system/svcid-agent.socket \
            /lib/systemd/system/svcid-agent.service /etc/systemd/system/sockets.target.wants/svcid-agent.socket \
            /usr/lib/sysusers.d/svcid.conf /usr/lib/tmpfiles.d/svcid.conf /usr/share/pam-configs/svcid \
            "/lib/$MA/security/pam_svcid.so" /usr/bin/svcid /usr/sbin/svcid-agent "/usr/lib/$MA/libsvcid.so.1"; do
        [ ! -e "$path" ] && [ ! -L "$path" ] || fail "purge left $path"
done
if grep -l pam_svcid /etc/pam.d/common-*; then fail "purge left pam_svcid in the stacks"; fi
getent passwd svcid >/dev/null || fail "purge removed the svcid system user (Debian keeps system users)"
ok "purge removes config, keys, state, units, links and the PAM profile; the svcid user stays"

echo "all package checks passed"
