#!/bin/bash
# SPDX-License-Identifier: MIT
# svcid-agent mint throughput over its Unix socket at 1, 8 and 32
# concurrent clients, one request per connection and with keep-alive, with
# p50/p99 latency; MUNGE's remunge encode rate against a private munged at
# the same concurrency in the same run; the ratio; one client again with
# server and client held on one CPU (*_one_cpu), for both; and the agent's
# RSS after 1,000,000 requests. stdout: BENCH lines only.
# One request per connection means what a one-shot HTTP client sends:
# the request says "Connection: close" (bench/agentload.c), and the client
# waits for the answer in poll(), as libcurl and MUNGE's client do.
# The agent runs with what the shipped unit gives it that bears on speed
# and memory (svcid-agent.service sets no environment, no scheduling and
# no memory options), but as the invoking user, without the unit's
# sandbox (its system call filter costs a little per call), and with its
# log going to a file rather than the journal.
set -euo pipefail
: "${SVCID_BUILD:?}"
AGENT=$SVCID_BUILD/svcid-agent
LOAD=$SVCID_BUILD/bench/agentload
SECONDS_EACH=${AGENT_BENCH_SECONDS:-5}
[ -x "$AGENT" ] && [ -x "$LOAD" ] || { echo "b_agent: build first" >&2; exit 77; }

T=$(mktemp -d /tmp/svcid-bench-agent.XXXXXX)
chmod 755 "$T"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT

: > "$T/agent.conf"
# the audit log goes to a file, as it would to the journal: part of the cost
"$AGENT" --config "$T/agent.conf" --state-dir "$T/state" --socket "$T/agent.sock" --log-target=stderr 2>"$T/agent.log" &
AGENT_PID=$!
pids+=("$AGENT_PID")
for i in $(seq 1 100); do [ -S "$T/agent.sock" ] && break; sleep 0.1; done
"$LOAD" "$T/agent.sock" 1 1 conn >/dev/null     # warm-up

declare -A RATE
for c in 1 8 32; do
        for mode in conn keepalive; do
                read -r rate p50 p99 errors < <("$LOAD" "$T/agent.sock" "$c" "$SECONDS_EACH" "$mode")
                [ "$errors" = 0 ] || echo "b_agent: $errors errors at c$c $mode" >&2
                echo "BENCH agent_mint_c${c}_${mode} $rate req/s"
                echo "BENCH agent_mint_c${c}_${mode}_p50 $p50 ms"
                echo "BENCH agent_mint_c${c}_${mode}_p99 $p99 ms"
                RATE[$c$mode]=$rate
        done
done

# One client is bound by where the scheduler wakes each side: on another
# CPU, every request and answer waits for a cross-CPU wake-up, which on a
# virtual machine costs more than the work. The same single client with the
# server and client held on one CPU (taskset) shows the work alone; MUNGE
# is measured the same way below.
ALL_CPUS=$(taskset -p "$AGENT_PID" | awk '{print $NF}')
taskset -a -p 1 "$AGENT_PID" >/dev/null
for mode in conn keepalive; do
        read -r rate _ _ errors < <(taskset 1 "$LOAD" "$T/agent.sock" 1 "$SECONDS_EACH" "$mode")
        [ "$errors" = 0 ] || echo "b_agent: $errors errors at c1 $mode on one CPU" >&2
        echo "BENCH agent_mint_c1_${mode}_one_cpu $rate req/s"
        RATE[1${mode}_one_cpu]=$rate
done
taskset -a -p "$ALL_CPUS" "$AGENT_PID" >/dev/null

# RSS after 1,000,000 requests (keep-alive, 32 clients), then after
# another 100,000: it must stay flat.
n=0
while [ "$n" -lt 1000000 ]; do
        read -r rate _ _ _ < <("$LOAD" "$T/agent.sock" 32 5 keepalive)
        n=$((n + ${rate%.*} * 5))
done
: > "$T/agent.log"
rss1=$(awk '/^VmRSS/ {print $2}' "/proc/$AGENT_PID/status")
"$LOAD" "$T/agent.sock" 32 3 conn >/dev/null
rss2=$(awk '/^VmRSS/ {print $2}' "/proc/$AGENT_PID/status")
anon=$(awk '/^RssAnon/ {print $2}' "/proc/$AGENT_PID/status")
echo "BENCH agent_rss_after_1m $rss1 KiB"
echo "BENCH agent_rss_after_1m_plus $rss2 KiB"
echo "BENCH agent_rss_anon $anon KiB"

if ! command -v munged >/dev/null || ! command -v remunge >/dev/null || [ "$(id -u)" != 0 ]; then
        echo "b_agent: munge not installed or not root: no MUNGE comparison" >&2
        exit 0
fi
M=$T/munge
mkdir "$M"
chown munge: "$M"
chmod 755 "$M"
mungekey -c -k "$M/key" >/dev/null 2>&1
chown munge: "$M/key"
chmod 600 "$M/key"
runuser -u munge -- munged --socket="$M/sock" --key-file="$M/key" --pid-file="$M/pid" \
        --log-file="$M/log" --seed-file="$M/seed"
for i in $(seq 1 100); do [ -S "$M/sock" ] && break; sleep 0.1; done
pids+=("$(cat "$M/pid")")
for c in 1 8 32; do
        m=$(remunge -q -S "$M/sock" -T "$c" -D "$SECONDS_EACH" 2>/dev/null | tail -n 1 | awk '{print $1}')
        echo "BENCH munge_remunge_c$c $m cred/s"
        for mode in conn keepalive; do
                echo "BENCH agent_vs_munge_c${c}_${mode} $(awk -v a="${RATE[$c$mode]}" -v b="$m" 'BEGIN { printf "%.2f", a / b }') x"
        done
done
taskset -a -p 1 "$(cat "$M/pid")" >/dev/null
m=$(taskset 1 remunge -q -S "$M/sock" -T 1 -D "$SECONDS_EACH" 2>/dev/null | tail -n 1 | awk '{print $1}')
echo "BENCH munge_remunge_c1_one_cpu $m cred/s"
for mode in conn keepalive; do
        echo "BENCH agent_vs_munge_c1_${mode}_one_cpu $(awk -v a="${RATE[1${mode}_one_cpu]}" -v b="$m" 'BEGIN { printf "%.2f", a / b }') x"
done
