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
# The agent and MUNGE are measured in turn, in rounds: at each concurrency,
# AGENT_BENCH_ROUNDS rounds (default 5) of AGENT_BENCH_SECONDS each (default
# 1) for the agent one request per connection, the agent with keep-alive
# and remunge, the order rotating every round, so that the ratios compare
# the two under the same load. A rate is the mean of its rounds; p50 and
# p99 are the medians of the rounds' own.
set -euo pipefail
: "${SVCID_BUILD:?}"
AGENT=$SVCID_BUILD/svcid-agent
LOAD=$SVCID_BUILD/bench/agentload
SECONDS_EACH=${AGENT_BENCH_SECONDS:-1}
ROUNDS=${AGENT_BENCH_ROUNDS:-5}
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

MUNGE_PID=""
if command -v munged >/dev/null && command -v remunge >/dev/null && [ "$(id -u)" = 0 ]; then
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
        MUNGE_PID=$(cat "$M/pid")
        pids+=("$MUNGE_PID")
else
        echo "b_agent: munge not installed or not root: no MUNGE comparison" >&2
fi

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
mean() { awk '{ s += $1 } END { printf "%.0f", s / NR }'; }

# measure SUFFIX [CPU]: the rounds at 1, 8 and 32 clients (SUFFIX
# "_one_cpu": one client, everything on CPU CPU); BENCH lines, and the
# rates in RATE[].
declare -A RATE
measure() {
        local suffix=$1 cpu=${2:-} clients=(1 8 32) pin=()
        [ -z "$cpu" ] || { clients=(1); pin=(taskset -c "$cpu"); }
        for c in "${clients[@]}"; do
                local d=$T/c$c$suffix kinds=(conn keepalive) rate p50 p99 errors
                mkdir -p "$d"
                [ -z "$MUNGE_PID" ] || kinds+=(munge)
                for ((r = 0; r < ROUNDS; r++)); do
                        for ((i = 0; i < ${#kinds[@]}; i++)); do
                                local kind=${kinds[(r + i) % ${#kinds[@]}]}
                                if [ "$kind" = munge ]; then
                                        "${pin[@]}" remunge -q -S "$M/sock" -T "$c" -D "$SECONDS_EACH" 2>/dev/null |
                                                tail -n 1 | awk '{print $1}' >>"$d/munge"
                                        continue
                                fi
                                read -r rate p50 p99 errors < <("${pin[@]}" "$LOAD" "$T/agent.sock" "$c" "$SECONDS_EACH" "$kind")
                                [ "$errors" = 0 ] || echo "b_agent: $errors errors at c$c $kind$suffix" >&2
                                echo "$rate" >>"$d/$kind.rate"
                                echo "$p50" >>"$d/$kind.p50"
                                echo "$p99" >>"$d/$kind.p99"
                        done
                done
                for mode in conn keepalive; do
                        RATE[$c$mode$suffix]=$(mean <"$d/$mode.rate")
                        echo "BENCH agent_mint_c${c}_${mode}${suffix} ${RATE[$c$mode$suffix]} req/s"
                        if [ -z "$suffix" ]; then
                                echo "BENCH agent_mint_c${c}_${mode}_p50 $(median <"$d/$mode.p50") ms"
                                echo "BENCH agent_mint_c${c}_${mode}_p99 $(median <"$d/$mode.p99") ms"
                        fi
                done
                [ -n "$MUNGE_PID" ] || continue
                local m
                m=$(mean <"$d/munge")
                echo "BENCH munge_remunge_c${c}${suffix} $m cred/s"
                for mode in conn keepalive; do
                        echo "BENCH agent_vs_munge_c${c}_${mode}${suffix} $(awk -v a="${RATE[$c$mode$suffix]}" -v b="$m" 'BEGIN { printf "%.2f", a / b }') x"
                done
        done
}
measure ""

# One client is bound by where the scheduler wakes each side: on another
# CPU, every request and answer waits for a cross-CPU wake-up, which on a
# virtual machine costs more than the work. The same single client with the
# server and client held on one CPU (taskset) shows the work alone, for the
# agent and for MUNGE alike.
ALL_CPUS=$(taskset -p "$AGENT_PID" | awk '{print $NF}')
taskset -a -p 1 "$AGENT_PID" >/dev/null
[ -z "$MUNGE_PID" ] || taskset -a -p 1 "$MUNGE_PID" >/dev/null
measure _one_cpu 0
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
# Most of the RSS is shared libraries' pages (file-backed, the same pages
# in every process that maps them); PSS divides each page among those
# processes: the agent's share of the host's memory.
pss=$(awk '/^Pss:/ {print $2}' "/proc/$AGENT_PID/smaps_rollup")
echo "BENCH agent_rss_after_1m $rss1 KiB"
echo "BENCH agent_rss_after_1m_plus $rss2 KiB"
echo "BENCH agent_rss_anon $anon KiB"
echo "BENCH agent_pss $pss KiB"
