#!/bin/bash
# SPDX-License-Identifier: MIT
# svcid under a real systemd as PID 1: a Debian 12 system made with
# mmdebstrap, with the packages of `make deb` installed, booted with
# systemd-nspawn. What only systemd itself shows:
#  - it boots with the agent's socket enabled and listening, and no unit
#    failed;
#  - the agent runs as the unit says (the svcid user, no capabilities,
#    no_new_privs, a seccomp filter) and mints for root and for a user;
#  - a process that systemd-run starts in a unit gets that unit as `unit`;
#  - STATUS= names the kid that signs; the watchdog is fed;
#  - a start with a bad agent.conf answers 503 and keeps the socket;
#  - systemctl reload with a bad or missing agent.conf fails, the journal
#    naming file:line, and the agent keeps its policy; a good file is in
#    force when systemctl reload returns (its ExecReload=, svcid-agent
#    --reload, under the unit's sandbox); svcid-agent --rotate returns
#    once a new key signs, and older tokens still verify;
#  - systemctl restart of the service, twice, leaves the socket working;
#  - upgrading the package while a client mints in a loop loses no request;
#  - the example gates: line mode per connection admits and refuses, and a
#    refusal leaves no failed instance; the long-lived gate admits before
#    and after a restart;
#  - the journal holds the audit entries, with their MESSAGE_ID and fields;
#  - removing svcid-agent stops the agent and closes its socket.
# Needs root, mmdebstrap, systemd-nspawn and a Debian mirror; skips with
# the reason otherwise, or when this machine cannot boot a container.
set -euo pipefail
. "$(dirname "$0")/t_common.sh"

[ "$(id -u)" -eq 0 ] || skip "boots a container with systemd-nspawn: needs root"
case "$SVCID_BUILD" in
*/asan) skip "the packages are built without sanitizers; the plain make check runs this test" ;;
esac
for tool in mmdebstrap systemd-nspawn nsenter dpkg-buildpackage jq; do
        command -v "$tool" >/dev/null || skip "$tool not installed (make deps installs it)"
done

T=$(mktemp -d /var/tmp/svcid-systemd-test.XXXXXX)
chmod 755 "$T"
ROOT=$T/build01         # the host that mints
WEB=$T/web01            # the host a stage logs in to with ssh
NSPAWN_PIDS=() LEADERS=()
cleanup() {
        local p
        set +e
        for p in "${NSPAWN_PIDS[@]}"; do
                kill -TERM "$p" 2>/dev/null     # systemd-nspawn powers the container off
        done
        for p in "${NSPAWN_PIDS[@]}"; do
                for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
                kill -KILL "$p" 2>/dev/null
                wait "$p" 2>/dev/null
        done
        # A container that did not power off in time outlives its
        # systemd-nspawn: its PID 1 killed, the kernel ends the rest.
        for p in "${LEADERS[@]}"; do
                [ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ] && kill -KILL "$p" 2>/dev/null
        done
        rm -rf --one-file-system "$T"
}
trap cleanup EXIT

echo "== make deb"
build_debs
PKGS="libsvcid1 svcid svcid-agent libpam-svcid"
debs=()
for p in $PKGS; do
        f=$(ls "$DEB/${p}"_*.deb | grep -v dbgsym | head -n 1)
        [ -f "$f" ] || fail "make deb did not build $p"
        debs+=("$f")
done

echo "== a Debian 12 system with mmdebstrap"
# The packages' own dependencies come from the mirror; the packages are
# then installed with dpkg, as from a local file.
deps=$(for f in "${debs[@]}"; do dpkg-deb -f "$f" Depends; done | tr ',' '\n' |
        sed -e 's/([^)]*)//g' -e 's/|.*//' -e 's/ //g' | grep -vxE "${PKGS// /|}|" | sort -u | paste -sd,)
mmdebstrap --mode=root --variant=apt \
        --include="systemd,systemd-sysv,dbus,openssh-server,openssh-client,sshpass,$deps" \
        bookworm "$ROOT" > "$T/mmdebstrap.log" 2>&1 ||
        { tail -n 5 "$T/mmdebstrap.log"; skip "mmdebstrap could not make a Debian 12 system (no mirror?)"; }
mkdir -p "$ROOT/root/debs"
cp "${debs[@]}" "$ROOT/root/debs/"
chroot "$ROOT" sh -c 'dpkg -i /root/debs/*.deb' > "$T/dpkg.log" 2>&1 ||
        { cat "$T/dpkg.log"; fail "the packages do not install"; }
ok "installed $PKGS"

# web01, a copy made before either boots, follows the README's "sshd: log
# in with a token": the module before common-auth, keyboard-interactive
# on, a deploy account (and sshd on a free port: the containers share
# this machine's network).
cp -a "$ROOT" "$WEB"
SSH_PORT=$((20000 + $$ % 10000))
sed -i 's/^@include common-auth/auth     [success=done default=ignore]           pam_svcid.so audience=ssh:%H\
account  [success=ok ignore=ignore module_unknown=ignore default=bad]  pam_svcid.so\
session  optional                                pam_svcid.so\
&/' "$WEB/etc/pam.d/sshd"
grep -q '^auth .*pam_svcid.so audience=ssh:%H' "$WEB/etc/pam.d/sshd" || fail "could not edit web01's /etc/pam.d/sshd"
printf 'Port %s\nKbdInteractiveAuthentication yes\n' "$SSH_PORT" > "$WEB/etc/ssh/sshd_config.d/svcid-test.conf"
chroot "$WEB" useradd -m deploy
chroot "$ROOT" useradd -m deploy
# build01 is only an ssh client: its sshd would take port 22 of this machine
ln -s /dev/null "$ROOT/etc/systemd/system/ssh.service"
echo web01 > "$WEB/etc/hostname"        # mmdebstrap copied this machine's
echo build01 > "$ROOT/etc/hostname"

echo "== boot"
# boot NAME DIR: boots DIR with host name NAME; sets LEADER (its PID 1,
# as this machine sees it) once systemd there has finished starting.
boot() {
        local pid i state
        systemd-nspawn -q -D "$2" -b --register=no --keep-unit --console=pipe \
                --machine "svcid-$1-$$" > "$T/$1.console" 2>&1 < /dev/null &
        pid=$!
        NSPAWN_PIDS+=("$pid")
        LEADER=
        for i in $(seq 1 300); do
                LEADER=$(pgrep -P "$pid" | head -n 1) || true
                [ -n "$LEADER" ] && [ "$(cat "/proc/$LEADER/comm" 2>/dev/null)" = systemd ] && break
                kill -0 "$pid" 2>/dev/null || break
                LEADER=
                sleep 0.1
        done
        [ -n "$LEADER" ] || { tail -n 20 "$T/$1.console"; skip "systemd-nspawn cannot boot a container here"; }
        LEADERS+=("$LEADER")
        # systemctl cannot connect until systemd has made its socket
        for i in $(seq 1 600); do
                state=$(at "$LEADER" timeout 120 systemctl is-system-running --wait 2>&1) || true
                [[ $state == *"Failed to connect to bus"* ]] || break
                sleep 0.1
        done
        case $state in
        running|degraded) ;;
        *) tail -n 20 "$T/$1.console"; skip "systemd in $1 did not finish booting ($state)" ;;
        esac
        echo "$1: $state"
}
# at PID CMD...: CMD in the container whose PID 1 is PID, as root, with a
# clean environment; inside CMD... in build01, web CMD... in web01.
at() {
        local leader=$1
        shift
        nsenter -t "$leader" -m -u -i -n -p -C -r -w \
                env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"
}
boot build01 "$ROOT"
BUILD01=$LEADER
boot web01 "$WEB"
WEB01=$LEADER
inside() { at "$BUILD01" "$@"; }
web() { at "$WEB01" "$@"; }
failed_units() { inside systemctl list-units --failed --plain --no-legend | awk '{print $1}'; }
[ -z "$(failed_units)" ] || fail "failed units after boot: $(failed_units)"
[ "$(inside systemctl is-enabled svcid-agent.socket)" = enabled ] || fail "svcid-agent.socket is not enabled"
[ "$(inside systemctl is-active svcid-agent.socket)" = active ] || fail "svcid-agent.socket is not listening"
[ "$(inside systemctl is-active svcid-agent.service)" = inactive ] || fail "the agent started before anyone asked"
[ -z "$(web systemctl list-units --failed --plain --no-legend)" ] || fail "failed units on web01"
ok "booted, the agent's socket listening, no failed unit"

# payload TOKEN / header TOKEN: a segment as JSON, not verified.
segment() {
        local p
        p=$(cut -d. -f"$1" <<<"$2" | tr '_-' '/+')
        while [ $(( ${#p} % 4 )) -ne 0 ]; do p="$p="; done
        base64 -d <<<"$p"
}
journal() { inside journalctl --no-pager -o cat "$@"; }
# logged PATTERN inside|web JOURNALCTL-ARGS...: the entry is there, looking
# again for a while (journald stores a line a moment after it is sent).
# Match short-lived senders by -t (the syslog identifier), not -u: they
# may be gone before journald looks up their unit.
logged() {
        local pattern=$1 where=$2 i
        shift 2
        for i in $(seq 1 100); do
                "$where" journalctl --no-pager -o cat "$@" | grep -q -- "$pattern" && return 0
                sleep 0.1
        done
        return 1
}

ttl_now() { segment 2 "$(inside svcid token -a systemd-test)" | jq '.exp - .iat'; }
ttl_is() { [ "$(ttl_now)" = "$1" ]; }

echo "== the agent under its unit"
TOK=$(inside svcid token -a systemd-test) || fail "svcid token as root"
inside svcid verify -a systemd-test "$TOK" > "$T/claims.json" || fail "the token does not verify with the default trust"
[ "$(jq -r .sub "$T/claims.json")" = root ] || fail "sub: $(cat "$T/claims.json")"
MAIN=$(inside systemctl show -P MainPID svcid-agent.service)
[ "$MAIN" -gt 0 ] || fail "no main pid for svcid-agent.service"
status=$(inside cat "/proc/$MAIN/status")
svcid_uid=$(inside id -u svcid)
grep -qE "^Uid:\s+$svcid_uid\s" <<<"$status" || fail "the agent does not run as svcid ($svcid_uid): $(grep ^Uid <<<"$status")"
grep -qE '^CapEff:\s+0+$' <<<"$status" || fail "the agent has capabilities: $(grep ^CapEff <<<"$status")"
grep -qE '^NoNewPrivs:\s+1$' <<<"$status" || fail "the agent may gain privileges"
grep -qE '^Seccomp:\s+2$' <<<"$status" || fail "no seccomp filter on the agent"
inside useradd -m svcid-alice
inside runuser -u svcid-alice -- svcid token -a systemd-test --json > "$T/alice.json" || fail "svcid token as a user"
[ "$(jq -r .sub "$T/alice.json")" = svcid-alice ] || fail "user's sub: $(cat "$T/alice.json")"
ok "runs as svcid, no capabilities, no_new_privs, seccomp; mints for root and a user"

UTOK=$(inside systemd-run -q -P --wait --unit svcid-test-stage.service -p User=svcid-alice \
        svcid token -a systemd-test) || fail "svcid token in a transient unit"
segment 2 "$UTOK" > "$T/unit.json"
[ "$(jq -r .unit "$T/unit.json")" = svcid-test-stage.service ] || fail "unit claim: $(cat "$T/unit.json")"
[ "$(jq -r .sub "$T/unit.json")" = svcid-alice ] || fail "sub in the unit: $(cat "$T/unit.json")"
ok "a process in svcid-test-stage.service gets unit=svcid-test-stage.service"

KID1=$(segment 1 "$TOK" | jq -r .kid)
inside systemctl show -P StatusText svcid-agent.service | grep -qF "kid $KID1" ||
        fail "STATUS= does not name kid $KID1: $(inside systemctl show -P StatusText svcid-agent.service)"
ok "STATUS= names the signing kid"

echo "== sshd on web01: a stage on build01 logs in with a token"
# README, "Trusting other hosts": web01 trusts build01's jwks.json.
mkdir -p "$WEB/etc/svcid/trust.d"
cat "$ROOT/var/lib/svcid/jwks.json" > "$WEB/etc/svcid/trust.d/build01.jwks.new"
mv "$WEB/etc/svcid/trust.d/build01.jwks.new" "$WEB/etc/svcid/trust.d/build01.jwks"
web systemctl reload ssh
# ssh_as_deploy AUDIENCE: README's command, from build01. With only
# keyboard-interactive, a refused token ends the login (sshpass sees its
# prompt again and gives up) instead of ssh asking for a password that
# sshpass does not give: the timeout only guards against that.
ssh_as_deploy() {
        inside runuser -u deploy -- sh -c 'SSHPASS=$(svcid token -a "$1") timeout 60 sshpass -P "svcid token:" -e \
                ssh -o PreferredAuthentications=keyboard-interactive -o StrictHostKeyChecking=no \
                -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p "$2" deploy@127.0.0.1 id -un' sh "$1" "$SSH_PORT"
}
out=$(ssh_as_deploy ssh:web01 2>&1) || fail "ssh with a token for ssh:web01: $out"
[ "$out" = deploy ] || fail "ssh ran as: $out"
# By the syslog identifier, not the unit: sshd authenticates keyboard-
# interactive in a child that may be gone before journald looks up its unit.
logged 'pam_svcid(sshd:auth): accepted: reason=ok .*sub="deploy"' web -t sshd ||
        fail "no pam_svcid success line on web01: $(web journalctl --no-pager -o cat -t sshd | tail -n 5)"
rc=0
out=$(ssh_as_deploy ssh:other 2>&1) || rc=$?
[ "$rc" != 0 ] || fail "ssh with a token for another audience logged in: $out"
[ "$rc" != 124 ] || fail "ssh with a refused token hung until the timeout"
logged 'pam_svcid(sshd:auth): .*reason=wrong_audience .*sub="deploy"' web -t sshd ||
        fail "no wrong_audience line on web01: $(web journalctl --no-pager -o cat -t sshd | tail -n 5)"
[ "$(segment 2 "$(inside svcid token -a x)" | jq -r .iss)" = svcid://build01 ] || fail "build01's issuer"
ok "README's walk-through: deploy@web01 logs in with a token from build01; another audience is refused and logged"

echo "== reload and rotation"
TTL0=$(ttl_now)
[ "$TTL0" != 120 ] || fail "the policy before the reload already has ttl 120"
inside sh -c 'printf "[agent]\ndefault_ttl = 120\nbogus = 1\n" > /etc/svcid/agent.conf'
if inside systemctl reload svcid-agent.service 2> "$T/reload.err"; then fail "systemctl reload took a bad file"; fi
[ "$(inside systemctl is-active svcid-agent.service)" = active ] || fail "a bad config stopped the agent"
# the agent's cause, said again by the reload that failed (ExecReload=)
logged "svcid-agent: reload: /etc/svcid/agent.conf:3: unknown key 'bogus' in \[agent\] (the old policy runs)" \
        inside -t svcid-agent ||
        fail "the reload does not name agent.conf:3: $(journal -u svcid-agent.service | tail -n 5)"
ttl_is "$TTL0" || fail "the policy changed after a refused reload"
inside mv /etc/svcid/agent.conf /etc/svcid/agent.conf.off
if inside systemctl reload svcid-agent.service 2> "$T/reload.err"; then fail "systemctl reload without the file"; fi
inside mv /etc/svcid/agent.conf.off /etc/svcid/agent.conf
inside sh -c 'printf "[agent]\ndefault_ttl = 120\n" > /etc/svcid/agent.conf'
inside systemctl reload svcid-agent.service 2> "$T/reload.err" ||
        fail "systemctl reload of a good file: $(cat "$T/reload.err"; journal -u svcid-agent.service | tail -n 5)"
# in force when systemctl returns, with no wait
ttl_is 120 || fail "the reloaded policy does not apply: $(segment 2 "$(inside svcid token -a systemd-test)")"
# as svcid-agent(8) says to force a rotation: it returns once the new key signs
inside svcid-agent --rotate "$(inside systemctl show -P MainPID svcid-agent.service)" ||
        fail "svcid-agent --rotate: $(journal -u svcid-agent.service | tail -n 3)"
KID2=$(segment 1 "$(inside svcid token -a systemd-test)" | jq -r .kid)
[ "$KID2" != "$KID1" ] || fail "--rotate returned before the new key signed"
inside svcid verify -a systemd-test "$TOK" > /dev/null || fail "a token from before the rotation no longer verifies"
ok "reload: a bad or missing file fails it, naming file:line, the old policy kept; a good one in force on return; --rotate rotates"

echo "== a start with a bad policy keeps the socket: 503 until a reload"
inside sh -c 'printf "[agent]\ndefault_ttl = 9999\n" > /etc/svcid/agent.conf'
inside systemctl restart svcid-agent.service ||
        fail "the agent with a bad policy did not stay up: $(journal -u svcid-agent.service | tail -n 5)"
for i in 1 2 3 4 5 6; do
        if inside svcid token -a systemd-test > /dev/null 2> "$T/down.err"; then fail "a token with a bad policy"; fi
        grep -q "the agent is not up" "$T/down.err" || fail "request $i: $(cat "$T/down.err")"
done
[ "$(inside systemctl is-active svcid-agent.socket)" = active ] || fail "the socket stopped: $(inside systemctl status svcid-agent.socket | tail -n 3)"
[ "$(inside systemctl is-active svcid-agent.service)" = active ] || fail "the agent stopped"
inside sh -c 'printf "[agent]\ndefault_ttl = 120\n" > /etc/svcid/agent.conf'
inside systemctl try-reload-or-restart svcid-agent.service 2> "$T/reload.err" ||
        fail "the reload that brings the agent up failed: $(cat "$T/reload.err"; journal -u svcid-agent.service | tail -n 5)"
inside svcid token -a systemd-test > /dev/null 2> "$T/up.err" ||
        fail "no token once the policy was fixed and reloaded: $(cat "$T/up.err")"
ok "six requests refused with 'the agent is not up', socket and agent active; up, with the fixed file, when the reload returns"

echo "== restart and upgrade keep the socket"
for i in 1 2; do
        inside systemctl restart svcid-agent.service
        inside svcid token -a systemd-test > /dev/null || fail "no token after restart $i"
done
[ "$(inside systemctl is-active svcid-agent.socket)" = active ] || fail "the socket did not survive the restarts"
MAIN=$(inside systemctl show -P MainPID svcid-agent.service)
cat > "$ROOT/root/mint-loop.sh" <<'EOF'
#!/bin/sh
ok=0 bad=0
while [ ! -e /root/stop ]; do
        if svcid token -a systemd-test > /dev/null 2>> /root/mint-loop.err; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
done
echo "$ok $bad"
EOF
chmod 755 "$ROOT/root/mint-loop.sh"
inside /root/mint-loop.sh > "$T/loop.out" &
LOOP=$!
sleep 1
inside dpkg -i "/root/debs/$(basename "$(ls "$DEB"/svcid-agent_*.deb | grep -v dbgsym)")" > "$T/upgrade.log" 2>&1 ||
        { cat "$T/upgrade.log"; fail "upgrading svcid-agent failed"; }
sleep 1
touch "$ROOT/root/stop"
wait "$LOOP"
read -r minted lost < "$T/loop.out"
[ "$(inside systemctl show -P MainPID svcid-agent.service)" != "$MAIN" ] || fail "the upgrade did not restart the agent"
[ "$lost" = 0 ] || fail "$lost of $((minted + lost)) requests failed during the upgrade: $(sort "$ROOT/root/mint-loop.err" | uniq -c)"
[ "$minted" -gt 0 ] || fail "no token minted during the upgrade"
ok "two restarts; an upgrade restarted the agent while $minted requests all got a token"

echo "== the example gates"
inside sh -c 'cp /usr/share/doc/svcid/examples/svcid-gate-example.socket \
             /usr/share/doc/svcid/examples/svcid-gate-example@.service \
             /usr/share/doc/svcid/examples/svcid-gate-listen-example.socket \
             /usr/share/doc/svcid/examples/svcid-gate-listen-example.service /etc/systemd/system/'
cat > "$ROOT/usr/local/bin/stage2" <<'EOF'
#!/bin/sh
echo "stage2 for $SVCID_SUB uid $SVCID_UID"
cat
EOF
cat > "$ROOT/usr/local/bin/batch-stage" <<'EOF'
#!/bin/sh
echo "batch for $SVCID_SUB"
wc -l
EOF
chmod 755 "$ROOT/usr/local/bin/stage2" "$ROOT/usr/local/bin/batch-stage"
inside systemctl daemon-reload
inside systemctl start svcid-gate-example.socket svcid-gate-listen-example.socket
alice_uid=$(inside id -u svcid-alice)
out=$(echo "some input" | inside runuser -u svcid-alice -- svcid connect -a stage2 unix:/run/svcid-gate-example.sock) ||
        fail "line gate: admitted connection failed: $out"
[ "$out" = "stage2 for svcid-alice uid $alice_uid
some input" ] || fail "line gate: $out"
for i in 1 2 3; do
        rc=0
        echo x | inside runuser -u svcid-alice -- svcid connect -a other unix:/run/svcid-gate-example.sock \
                > /dev/null 2> "$T/refused.err" || rc=$?
        [ "$rc" = 1 ] || fail "line gate: a wrong audience exited $rc"
        grep -q 'refused: wrong_audience' "$T/refused.err" || fail "line gate refusal: $(cat "$T/refused.err")"
done
sleep 0.5
[ -z "$(failed_units)" ] || fail "refusals left failed units: $(failed_units)"
out=$(printf 'a\nb\n' | inside runuser -u svcid-alice -- svcid connect -a batch unix:/run/svcid-gate-listen-example.sock) ||
        fail "long-lived gate: admitted connection failed: $out"
[ "$out" = "batch for svcid-alice
2" ] || fail "long-lived gate: $out"
inside systemctl restart svcid-gate-listen-example.service
out=$(printf 'a\n' | inside runuser -u svcid-alice -- svcid connect -a batch unix:/run/svcid-gate-listen-example.sock) ||
        fail "long-lived gate after restart: $out"
[ "$out" = "batch for svcid-alice
1" ] || fail "long-lived gate after restart: $out"
ok "line gate admits and refuses (3 refusals, no failed unit); the long-lived gate admits across a restart"

echo "== the journal"
# svcid-agent(8): MESSAGE_ID b00aafc1... is a mint, with the caller's fields.
journal -o json MESSAGE_ID=b00aafc18aa54a79adf612821e411e38 SVCID_SUB=svcid-alice SVCID_UNIT=svcid-test-stage.service \
        > "$T/mint.json"
[ -s "$T/mint.json" ] || fail "no mint entry for svcid-alice in svcid-test-stage.service"
jq -e --arg uid "$alice_uid" 'select(.SVCID_AUD == "systemd-test" and .SVCID_UID == $uid and (.SVCID_JTI | length) > 0)' \
        "$T/mint.json" > /dev/null || fail "mint entry fields: $(head -c 600 "$T/mint.json")"
logged 'refused reason=wrong_audience' inside -t svcid-gate || fail "no gate refusal in the journal"
! journal | grep -qF "$TOK" || fail "a token is in the journal"
ok "mint entries carry MESSAGE_ID and the caller's fields; gate refusals logged; no token logged"

WD=$(inside systemctl show -P WatchdogTimestampMonotonic svcid-agent.service)
[ "${WD:-0}" -gt 0 ] || {
        # the first WATCHDOG=1 comes within WatchdogSec/2 of the start
        sleep 16
        WD=$(inside systemctl show -P WatchdogTimestampMonotonic svcid-agent.service)
        [ "${WD:-0}" -gt 0 ] || fail "systemd never got WATCHDOG=1"
}
ok "the watchdog is fed"

echo "== removal"
inside dpkg -r libpam-svcid svcid-agent > "$T/remove.log" 2>&1 || { cat "$T/remove.log"; fail "dpkg -r failed"; }
[ "$(inside systemctl is-active svcid-agent.socket)" != active ] || fail "the socket is still listening after removal"
[ "$(inside systemctl is-active svcid-agent.service)" != active ] || fail "the agent still runs after removal"
inside test ! -e /run/svcid/agent.sock || fail "the socket file is left after removal"
! grep -q "can still be activated" "$T/remove.log" || { cat "$T/remove.log"; fail "removal warns that the socket could start the agent again"; }
ok "removing svcid-agent stops the agent and closes its socket"

echo "all systemd checks passed"
