#!/bin/bash
# SPDX-License-Identifier: MIT
# Durability of the key state, seen in the order of system calls: a real
# agent's start and a SIGUSR2 rotation run under strace, and each file put
# in place through a temporary one (a new key's KID.new, state.json,
# jwks.json) is fsync()ed before its rename, and its directory after it;
# a new key's rename from KID.new to KID.pem is followed by an fsync of
# keys/ too, and the state directory's creation by an fsync of the
# directory above it. kill -9 never loses the page cache, so only this shows what a
# power cut would. Waits are bounded; nothing asserts how long things take.
set -euo pipefail
. "$(dirname "$0")/t_agent_common.sh"

command -v strace >/dev/null || skip "strace not installed"
strace -f -o /dev/null true 2>/dev/null || skip "strace cannot trace here (ptrace not permitted)"

cat > "$T/agent.conf" <<'EOF2'
[agent]
issuer = svcid://durable.test
EOF2

# strace runs the agent as its child, and exits with its status once the
# trace is whole; -y prints each descriptor with its path. (LeakSanitizer
# cannot run under ptrace: a SANITIZE=1 agent runs without it here.)
STATE=$T/d
SOCK=$T/d.sock
AGENT_LOG=$T/d.log
TRACE=$T/trace
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -y -q -s 256 -o "$TRACE" \
        -e trace=openat,write,fsync,fdatasync,rename,renameat,renameat2,mkdir,mkdirat \
        "$AGENT" --config "$T/agent.conf" --state-dir "$STATE" --socket "$SOCK" --log-target=stderr \
        2>>"$AGENT_LOG" &
STRACE_PID=$!
BG_PIDS+=("$STRACE_PID")
wait_for_socket "$SOCK" || fail "the agent did not come up under strace"
AGENT_PID=$(ps -o pid= --ppid "$STRACE_PID" | tr -d ' ')
[[ "$AGENT_PID" =~ ^[0-9]+$ ]] || fail "no one agent process under strace ($AGENT_PID)"
BG_PIDS+=("$AGENT_PID")

check "a start and a SIGUSR2 rotation"
kill -USR2 "$AGENT_PID"
for _ in $(seq 1 300); do
        [ "$(grep -c "key created, signing now" "$AGENT_LOG")" -ge 2 ] && break
        sleep 0.1
done
[ "$(grep -c "key created, signing now" "$AGENT_LOG")" -ge 2 ] || fail "SIGUSR2 made no new key"
kill -TERM "$AGENT_PID"
for _ in $(seq 1 600); do
        kill -0 "$STRACE_PID" 2>/dev/null || break
        sleep 0.1
done
! kill -0 "$STRACE_PID" 2>/dev/null || fail "the agent did not stop on SIGTERM under strace"
rc=0
wait "$STRACE_PID" || rc=$?
[ "$rc" = 0 ] || fail "the agent (or strace) exited with status $rc after SIGTERM"
! grep -E "Sanitizer|runtime error" "$AGENT_LOG" || fail "sanitizer report in $AGENT_LOG"
ok "traced"

check "each temporary file is fsync()ed before its rename, and its directory after it"
"$PY" - "$TRACE" "$STATE" <<'EOF2' || fail "a file or directory put in place with no fsync before or after"
import os, re, sys

call = re.compile(r'^(\d+) +(\w+)\((.*)')
fd = r'\d+<([^>]*)>'
events = {}     # tid -> [(kind, path or (src, dst_dir, dst))]
for line in open(sys.argv[1]):
    m = call.match(line)
    if not m or 'resumed>' in line:
        continue
    tid, name, rest = m.groups()
    ev = events.setdefault(tid, [])
    if name == 'openat':
        r = re.search(r'= ' + fd, rest)
        if r:
            ev.append(('open', r.group(1)))
    elif name in ('fsync', 'fdatasync'):
        r = re.match(fd, rest)
        if r:
            ev.append(('sync', r.group(1)))
    elif name in ('renameat', 'renameat2'):
        r = re.match(fd + r', "([^"]*)", ' + fd + r', "([^"]*)"', rest)
        if r and not re.search(r'\) = -1 ', rest):     # one that failed put nothing in place
            ev.append(('rename', (os.path.join(r.group(1), r.group(2)), r.group(3), r.group(4))))
    elif name == 'mkdirat':
        r = re.match(fd + r', "([^"]*)", \w+\) = 0', rest)
        if r:
            ev.append(('mkdir', os.path.join(r.group(1), r.group(2))))
    elif name == 'mkdir':
        r = re.match(r'"([^"]*)", \w+\) = 0', rest)
        if r:
            ev.append(('mkdir', r.group(1)))
    elif name == 'rename':
        r = re.match(r'"([^"]*)", "([^"]*)"', rest)
        if r and r.group(2).startswith('/'):
            ev.append(('rename', (r.group(1), os.path.dirname(r.group(2)), os.path.basename(r.group(2)))))

bad, seen = [], {}
for tid, ev in events.items():
    for i, (kind, what) in enumerate(ev):
        if kind != 'rename':
            continue
        src, dst_dir, dst = what
        base = os.path.basename(src)
        if base.endswith('.tmp'):
            kind_name = 'KID.new' if dst.endswith('.new') else dst
            opened = max((j for j in range(i) if ev[j] == ('open', src)), default=-1)
            if opened < 0:
                bad.append('%s -> %s: its opening is not in the trace' % (src, dst))
            elif ('sync', src) not in ev[opened:i]:
                bad.append('%s renamed to %s with no fsync of it since it was opened' % (src, dst))
        elif base.endswith('.new') and dst.endswith('.pem'):
            kind_name = 'KID.new -> KID.pem'
        else:
            continue
        seen[kind_name] = seen.get(kind_name, 0) + 1
        after = next((w for k, w in ev[i + 1:] if k == 'sync'), None)
        if after != dst_dir:
            bad.append('%s renamed to %s/%s, then %s' % (src, dst_dir, dst, 'an fsync of %s, not of %s'
                                                              % (after, dst_dir) if after else 'no fsync of ' + dst_dir))
    for i, (kind, what) in enumerate(ev):
        if kind == 'mkdir' and what == sys.argv[2]:
            seen['the state directory'] = seen.get('the state directory', 0) + 1
            after = next((w for k, w in ev[i + 1:] if k == 'sync'), None)
            if after != os.path.dirname(what):
                bad.append('%s made, then %s' % (what, 'an fsync of %s, not of the directory above' % after
                                                 if after else 'no fsync of the directory above'))
if seen.get('the state directory', 0) != 1:
    bad.append('the state directory made %d time(s), expected once' % seen.get('the state directory', 0))
for k in ('KID.new', 'state.json', 'jwks.json', 'KID.new -> KID.pem'):
    if seen.get(k, 0) < 2:
        bad.append('%s put in place %d time(s), expected at least 2 (the start, the rotation)'
                   % (k, seen.get(k, 0)))
for b in bad:
    print('  ' + b)
print('  renames checked: ' + ', '.join('%s %d' % kv for kv in sorted(seen.items())))
sys.exit(1 if bad else 0)
EOF2
ok "every file put in place durably"

# A write that fails leaves no temporary file behind: the fsync() of
# keys/.state.json.tmp fails (EIO, injected by strace), the agent cannot
# make its first key and exits, and neither its state directory nor
# keys/ holds a *.tmp.
check "a failed write leaves no temporary file"
STATE=$T/eio
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -q -o /dev/null \
        -P "$STATE/keys/.state.json.tmp" -e trace=fsync -e inject=fsync:error=EIO \
        timeout 60 "$AGENT" --config "$T/agent.conf" --state-dir "$STATE" --socket "$T/eio.sock" \
        --log-target=stderr 2>"$T/eio.log" && fail "the agent started though its first fsync failed"
grep -qF "writing keys/state.json: syncing .state.json.tmp: Input/output error" "$T/eio.log" || fail "the failed fsync is not named: $(cat "$T/eio.log")"
left=$(find "$STATE" -name '*.tmp' 2>/dev/null)
[ -z "$left" ] || fail "a failed write left $left"
ok "no temporary file left"
