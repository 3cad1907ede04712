# SPDX-License-Identifier: MIT
# Shared setup for the tests/t_agent*.sh scripts; sourced, not run (the
# file is deliberately not executable, so tests/run.sh skips it).
#
# Provides: $T (temp dir, removed on exit, with every agent started here
# stopped), $AGENT, $CLI, $PY (Debian's python3), start_agent/stop_agent,
# http (curl on the socket: sets $STATUS and $BODY), claims (decode a
# token's payload), notify_listen/wait_notify, and fail/ok/skip.

. "$(dirname "${BASH_SOURCE[0]}")/t_common.sh"
AGENT=$SVCID_BUILD/svcid-agent
CLI=$SVCID_BUILD/svcid

# fail, with the end of the agent's log.
fail() {
        echo "FAIL: $*"
        if [ -n "${AGENT_LOG:-}" ] && [ -f "$AGENT_LOG" ]; then
                echo "--- last lines of the agent's log ($AGENT_LOG):"
                tail -n 20 "$AGENT_LOG"
        fi
        exit 1
}
check() { echo "check: $*"; }

[ -x "$AGENT" ] || fail "$AGENT not built"
[ -x "$CLI" ] || fail "$CLI not built"
command -v curl >/dev/null || skip "curl not installed"
command -v jq >/dev/null || skip "jq not installed"

test_tmpdir agent

# wait_for_socket SOCK: until the agent answers /v1/health (bounded).
wait_for_socket() {
        local i
        for i in $(seq 1 300); do
                if curl -sf --max-time 2 --unix-socket "$1" http://localhost/v1/health >/dev/null 2>&1; then
                        return 0
                fi
                sleep 0.1
        done
        return 1
}

# start_agent NAME CONF [ARGS...]: an agent with state in $T/NAME, socket
# $T/NAME.sock, log $T/NAME.log; sets AGENT_PID, SOCK, STATE, AGENT_LOG and
# exports SVCID_AGENT_SOCKET. CONF "-" means no config file at all: no
# --config, the default path, which must not exist (else an empty file).
start_agent() {
        local name=$1 conf=$2 copt=()
        shift 2
        SOCK=$T/$name.sock
        STATE=$T/$name
        AGENT_LOG=$T/$name.log
        if [ "$conf" != "-" ]; then
                copt=(--config "$conf")
        elif [ -e /etc/svcid/agent.conf ]; then
                echo "note: /etc/svcid/agent.conf exists here; using an empty config instead of none"
                : > "$T/empty.conf"
                copt=(--config "$T/empty.conf")
        fi
        "$AGENT" "${copt[@]}" --state-dir "$STATE" --socket "$SOCK" --log-target=stderr "$@" \
                2>>"$AGENT_LOG" &
        AGENT_PID=$!
        BG_PIDS+=("$AGENT_PID")
        export SVCID_AGENT_SOCKET=$SOCK
        wait_for_socket "$SOCK" || fail "agent $name did not come up"
}

# stop_agent [PID [LOG]]: SIGTERM and wait (bounded), default $AGENT_PID;
# the agent must exit 0 and its log show no sanitizer report.
stop_agent() {
        local pid=${1:-$AGENT_PID} log=${2:-${AGENT_LOG:-}} i rc=0
        kill -TERM "$pid" 2>/dev/null || return 0
        for i in $(seq 1 300); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        wait "$pid" 2>/dev/null || rc=$?
        [ "$rc" = 0 ] || fail "agent $pid exited with status $rc after SIGTERM"
        if [ -n "$log" ] && grep -E "Sanitizer|runtime error" "$log"; then
                fail "sanitizer report in $log"
        fi
}

# http PATH [CURL ARGS...]: GET on $SOCK; sets STATUS and BODY.
http() {
        local path=$1 out
        shift
        out=$(curl -s --max-time 20 --unix-socket "$SOCK" -w '\n%{http_code}' "$@" "http://localhost$path") || true
        STATUS=${out##*$'\n'}
        BODY=${out%$'\n'*}
}

# expect_status CODE ERROR-WORD PATH [CURL ARGS...]
expect_status() {
        local code=$1 word=$2 path=$3
        shift 3
        http "$path" "$@"
        [ "$STATUS" = "$code" ] || fail "$path: expected HTTP $code, got $STATUS ($BODY)"
        if [ -n "$word" ]; then
                [ "$(jq -r .error <<<"$BODY")" = "$word" ] || fail "$path: expected error '$word', got $BODY"
                jq -e '.message | type == "string"' <<<"$BODY" >/dev/null || fail "$path: no message in $BODY"
        fi
}

# claims TOKEN: the payload, as JSON, without verifying anything.
claims() {
        local p
        p=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
        while [ $(( ${#p} % 4 )) -ne 0 ]; do p="$p="; done
        base64 -d <<<"$p"
}

# get_token AUD [QUERY-SUFFIX]: sets TOK (and BODY) from curl, or fails.
get_token() {
        http "/v1/token?aud=$1${2:-}"
        [ "$STATUS" = 200 ] || fail "token for aud $1: HTTP $STATUS $BODY"
        TOK=$(jq -r .token <<<"$BODY")
}

# notify_listen: what an agent started with NOTIFY_SOCKET=$T/notify.sock
# tells systemd (sd_notify) goes to $T/notify.log, one message a line (a
# byte that is not UTF-8 as \xNN). wait_notify PATTERN waits for a line.
notify_listen() {
        "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    while True:
        out.write(s.recv(4096).decode(errors="backslashreplace") + "\n")
        out.flush()
' "$T/notify.sock" "$T/notify.log" &
        EXTRA_CLEANUP+=("kill $! 2>/dev/null")
        local i
        for i in $(seq 1 50); do [ -S "$T/notify.sock" ] && return 0; sleep 0.1; done
        fail "no listener on $T/notify.sock"
}
wait_notify() {
        local i
        for i in $(seq 1 200); do grep -q "$1" "$T/notify.log" 2>/dev/null && return 0; sleep 0.05; done
        fail "no '$1' from sd_notify: $(cat "$T/notify.log" 2>/dev/null)"
}
