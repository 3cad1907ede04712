#!/bin/bash
# SPDX-License-Identifier: MIT
# make demo: svcid end to end in a temporary directory — no root-owned
# state, no systemd. An agent mints a token for this shell; svcid verify,
# a PAM stack and a gate accept it; each refuses a wrong one with its reason.
set -euo pipefail
cd "$(dirname "$0")"
B=${SVCID_BUILD:-$PWD/build}
T=$(mktemp -d /tmp/svcid-demo.XXXXXX)
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        rm -rf "$T"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
# The token goes in on standard input, never on a command line, where
# every user of the host could read it in ps.
run_token() { printf '$ %s <<< "$TOKEN"\n' "$*"; "$@" <<< "$TOKEN"; }
# wait_for_socket SOCKET [LOG]: LOG is shown if the socket never comes.
wait_for_socket() {
        for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.1; done
        echo "demo: $1 did not appear" >&2
        [ -z "${2:-}" ] || cat "$2" >&2
        exit 1
}

step "svcid-agent in $T (its own keys, its own socket)"
cat > "$T/agent.conf" <<CONF
[agent]
issuer = svcid://demo
CONF
# Whatever the umask: the agent refuses a policy file that group or
# others may write.
chmod 0644 "$T/agent.conf"
"$B/svcid-agent" --config "$T/agent.conf" --state-dir "$T/agent" --socket "$T/agent.sock" \
        --log-target=stderr 2>"$T/agent.log" &
pids+=($!)
wait_for_socket "$T/agent.sock" "$T/agent.log"
export SVCID_AGENT_SOCKET=$T/agent.sock
run curl -s --unix-socket "$T/agent.sock" http://localhost/v1/health; echo

step "A token for this shell, named by the kernel (uid $(id -u)), for audience api.example.com"
printf '$ TOKEN=$(svcid token -a api.example.com)\n'
TOKEN=$("$B/svcid" token -a api.example.com)
run_token "$B/svcid" inspect

step "svcid verify accepts it offline, against the agent's published keys"
run_token "$B/svcid" verify -a api.example.com --trust "$T/agent/jwks.json"

step "... and refuses it for another audience, with the reason"
run_token "$B/svcid" verify -a ssh:web01 --trust "$T/agent/jwks.json" || echo "(exit $?)"

if [ "$(id -u)" = 0 ] && [ -e "$(dpkg -L libpam-wrapper 2>/dev/null | grep -m1 'libpam_wrapper.so$')" ]; then
        step "A PAM stack takes the token as $(id -un)'s password (pamtester, private stack)"
        # pam_svcid trusts only root-owned files nobody else can write.
        mkdir -p "$T/pam.d"
        cat > "$T/pam.d/svcid-demo" <<PAM
auth     [success=done default=ignore]           $B/pam_svcid.so audience=api.example.com trust=$T/agent/jwks.json
auth     requisite                               pam_deny.so
account  [success=ok ignore=ignore module_unknown=ignore default=bad]  $B/pam_svcid.so
session  optional                                $B/pam_svcid.so
PAM
        echo "# no default stack" > "$T/pam.d/other"
        cat "$T/pam.d/svcid-demo"
        pam() {
                LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" \
                        PAM_WRAPPER_DEBUGLEVEL=2 pamtester "$@" 2>&1 |
                        sed -n -e 's/^svcid token: //' \
                               -e 's/^PWRAP_[A-Z]*\[[^]]*\] - SYSLOG([56]): /pam_svcid: /p' -e '/^pamtester:/p'
        }
        printf '$ pamtester svcid-demo %s authenticate acct_mgmt open_session <<< "$TOKEN"\n' "$(id -un)"
        pam svcid-demo "$(id -un)" authenticate acct_mgmt open_session <<< "$TOKEN"
        printf '$ pamtester svcid-demo nobody authenticate <<< "$TOKEN"   # the token names %s\n' "$(id -un)"
        pam svcid-demo nobody authenticate <<< "$TOKEN" || true
else
        step "(PAM part skipped: it needs root and libpam-wrapper — run 'make deps demo' as root)"
fi

step "svcid-gate: a stage that admits only callers with a valid token"
# systemd-socket-activate plays systemd with Accept=yes: one gate per
# connection; the gate verifies the first line, then becomes the stage.
cat > "$T/stage.sh" <<'STAGE'
#!/bin/sh
read -r line
echo "stage: hello $SVCID_SUB (uid $SVCID_UID, token $SVCID_JTI), you sent: $line"
STAGE
chmod 755 "$T/stage.sh"
systemd-socket-activate -l "$T/gate.sock" -a \
        "$B/svcid-gate" -a stage2 --trust "$T/agent/jwks.json" -- "$T/stage.sh" 2>>"$T/gate.log" &
pids+=($!)
wait_for_socket "$T/gate.sock"
echo "payload" | run "$B/svcid" connect -a stage2 "unix:$T/gate.sock"

step "... and refuses a caller whose token is for another stage, saying why"
echo "payload" | run "$B/svcid" connect -a stage3 "unix:$T/gate.sock" || echo "(exit $?)"
sleep 0.2
echo "The gate's audit log:"
grep -o 'svcid-gate\[[0-9]*\]: .*' "$T/gate.log" || cat "$T/gate.log"

step "The agent's audit log"
cat "$T/agent.log"

printf '\nsvcid demo: done\n'
