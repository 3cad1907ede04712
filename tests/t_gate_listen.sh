#!/bin/bash
# SPDX-License-Identifier: MIT
# svcid-gate, long-lived style (Accept=no), line mode: under
# systemd-socket-activate without -a the gate gets the listening socket,
# accepts itself, verifies in-process and forks the service per admitted
# connection. Checks admission and environment, 1 MiB intact, the refusal
# reasons, a silent client not holding up others, reaping (also when
# started with SIGCHLD ignored), trust reload
# when the files change, SIGTERM letting running services finish, one
# source's exact share of the pending slots, and the cap on what a
# refused client may still send.
set -euo pipefail
. "$(dirname "$0")/t_gate_common.sh"

ISS=svcid://gate-listen-test.example
AUD=batch
keygen k1 "$ISS"
keygen k2 svcid://second.example
keygen k3 svcid://third.example
mkdir -p "$T/trust.d" "$T/named"
cp "$T/keys/k1.jwks" "$T/trust.d/k1.jwks"
# Not trust files, though they sit in the directory (an editor's backup,
# a hidden temp file): neither loaded nor watched for changes.
cp "$T/keys/k1.jwks" "$T/trust.d/k1.jwks~"
cp "$T/keys/k1.jwks" "$T/trust.d/.k1.jwks"
cp "$T/keys/k3.jwks" "$T/named/k3.jwks"
head -c 1048576 /dev/urandom > "$T/random.bin"
LOG=$T/gate.log
TOKEN=$(mint k1 --iss "$ISS" --aud "$AUD" --sub carol --uid 777)

# await_reply TOKEN WANT: the gate's reply to TOKEN becomes WANT ("" for a
# connection closed unjudged) within about ten seconds, as it rechecks its
# trust; the last reply is left in $reply.
await_reply() {
        for _ in $(seq 50); do
                reply=$(client "$ADDR" --send "SVCID1 $1\n")
                [ "$reply" = "$2" ] && return 0
                sleep 0.2
        done
        return 1
}

# flood.py ADDR N READY [fork] [src=IP]: opens N connections from one
# source and says nothing; touches READY once all are open; then prints
# how many were held (the gate answered them, at their timeout) and how
# many are left open, once the gate has ended each (60 s at most); a
# connection cut before its connect() returned counts as ended. fork:
# each connection is made by a process of its own (same uid) and handed
# over; src=IP: TCP from that local address.
cat > "$T/flood.py" <<'PY'
import os, select, socket, sys, time
addr, n = sys.argv[1], int(sys.argv[2])
fork = "fork" in sys.argv[4:]
src = [a[4:] for a in sys.argv[4:] if a.startswith("src=")]
def connect():
    try:
        if addr.startswith("/"):
            s = socket.socket(socket.AF_UNIX); s.connect(addr)
        else:
            h, p = addr.rsplit(":", 1)
            s = socket.create_connection((h, int(p)), source_address=(src[0], 0) if src else None)
    except ConnectionResetError:
        # Over TCP the kernel completes the handshake on its own, so the
        # gate can accept and cut a connection before connect() returns
        # here: that connection was ended with nothing said, like any other
        # cut one.
        return None
    return s
def connect_in_child():
    parent, child = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        s = connect()
        if s:
            socket.send_fds(child, [b"s"], [s.fileno()])
        else:
            child.send(b"r")
        os._exit(0)
    os.waitpid(pid, 0)
    _, fds, _, _ = socket.recv_fds(parent, 1, 1)
    return socket.socket(fileno=fds[0]) if fds else None
socks = []
for _ in range(n):
    s = connect_in_child() if fork else connect()
    if s:
        socks.append(s)
open(sys.argv[3], "w").close()             # all open: the other source may go
got, done = {}, set()
end = time.time() + 60
while len(done) < len(socks) and time.time() < end:
    r, _, _ = select.select([s for s in socks if s not in done], [], [], 1)
    for s in r:
        try:
            d = s.recv(4096)
        except ConnectionResetError:
            d = b""
        got[s] = got.get(s, b"") + d
        if not d:
            done.add(s)
held = sum(1 for s in socks if got.get(s))
print(held, len(socks) - len(done))
PY

# flood_and_other SOCK N WHAT: a flood of N silent connections from this
# uid on the Unix socket SOCK (made writable for all), and meanwhile a
# client running as nobody, which must be served; flood.py's counts are
# left in $T/flood.out.
flood_and_other() {
        local sock=$1 n=$2 what=$3 flood reply
        chmod 755 "$T"; chmod 666 "$sock"
        rm -f "$T/flood.ready"
        "$PY" "$T/flood.py" "$sock" "$n" "$T/flood.ready" > "$T/flood.out" &
        flood=$!
        for _ in $(seq 200); do [ -e "$T/flood.ready" ] && break; sleep 0.1; done
        reply=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$PY" "$T/client.py" "$sock" \
                --send "SVCID1 $TOKEN\nother user")
        [ "$reply" = "other user" ] || fail "$what: another user's client got '$reply'"
        wait "$flood" || true
}

for family in unix tcp; do
        if [ $family = unix ]; then ADDR=$T/listen.sock; else ADDR=127.0.0.1:$(free_port); fi
        : > "$LOG"
        start_ssa "$LOG" "$ADDR" -- -a "$AUD" --trust "$T/trust.d" --trust "$T/named/k3.jwks" --timeout 4 -- \
                "$T/svc.sh"
        GATE_PID=$SSA_PID

        reset_out
        reply=$(client "$ADDR" --send "SVCID1 $TOKEN\n" --send-file "$T/random.bin")
        [ "$reply" = served ] || fail "$family: reply '$reply', not 'served'"
        grep -qx 'SVCID_SUB=carol' "$T/out/env" || fail "$family: SVCID_SUB wrong"
        grep -qx "SVCID_AUD=$AUD" "$T/out/env" || fail "$family: SVCID_AUD wrong"
        grep -qx 'SVCID_UID=777' "$T/out/env" || fail "$family: SVCID_UID wrong"
        grep -q '^SVCID_UNIT=' "$T/out/env" && fail "$family: SVCID_UNIT set without a unit claim"
        grep -qx 'LISTEN_FDS=1' "$T/out/env" || fail "$family: LISTEN_FDS wrong"
        pid=$(sed -n 's/^LISTEN_PID=//p' "$T/out/env"); self=$(sed -n 's/^SELF_PID=//p' "$T/out/env")
        [ "$pid" = "$self" ] && [ "$pid" != "$GATE_PID" ] || fail "$family: LISTEN_PID=$pid, service $self, gate $GATE_PID"
        [ "$(sort -u "$T/out/fds" | wc -l)" = 1 ] || fail "$family: fds 0/1/3 differ: $(cat "$T/out/fds")"
        [ "$(cat "$T/out/allfds")" = "0 1 2 3 " ] || fail "$family: stray descriptors: $(cat "$T/out/allfds")"
        cmp -s "$T/random.bin" "$T/out/data" || fail "$family: the 1 MiB after the preamble arrived altered"
        ok "$family: admitted with the right environment, 1 MiB intact"

        expired=$(mint k1 --iss "$ISS" --aud "$AUD" --iat-offset -1000)
        wrongaud=$(mint k1 --iss "$ISS" --aud other)
        foreign=$(mint k2 --iss svcid://second.example --aud "$AUD")
        head -c 9000 /dev/zero | tr '\0' A > "$T/big"
        while IFS='|' read -r reason args; do
                reset_out
                eval "reply=\$(client \"\$ADDR\" $args)"
                [ "$reply" = "SVCID1 ERR $reason" ] || fail "$family: expected $reason, got '$(printf %s "$reply" | head -c 100)'"
                [ ! -e "$T/out/env" ] || fail "$family: the service ran for a $reason refusal"
                ok "$family: refused with $reason"
        done <<'CASES'
expired|--send "SVCID1 $expired\n"
wrong_audience|--send "SVCID1 $wrongaud\n"
unknown_issuer|--send "SVCID1 $foreign\n"
malformed|--send "SVCID1 %%%\n"
no_token|--send "hello\n"
no_token|
truncated|--send "SVCID1 abc"
too_large|--send "SVCID1 " --send-file "$T/big"
timeout|--no-shut
CASES

        # A silent client holds a slot until its deadline but nobody else:
        # while it waits, other clients are served.
        client "$ADDR" --no-shut > "$T/silent.out" &
        silent=$!
        sleep 0.3
        for i in 1 2 3; do
                reply=$(client "$ADDR" --send "SVCID1 $TOKEN\nx")
                [ "$reply" = served ] || fail "$family: client $i not served while another was silent"
        done
        kill -0 "$silent" 2>/dev/null || fail "$family: the silent client was cut off before the others were served"
        wait "$silent" || true
        [ "$(cat "$T/silent.out")" = "SVCID1 ERR timeout" ] || fail "$family: the silent client got '$(cat "$T/silent.out")'"
        ok "$family: a silent client did not hold up three others, then timed out"

        # One source that opens more silent connections than there are
        # pending slots (512) takes them freely until half are taken
        # (256), then no more, as it holds over its share (64); the rest
        # are ended at once, unread, and other sources still get slots.
        # Each connection is classed once the gate is done with it: held
        # (it got the timeout refusal) or cut (ended with nothing said).
        rm -f "$T/flood.ready"
        (ulimit -n 2048; "$PY" "$T/flood.py" "$ADDR" 600 "$T/flood.ready" > "$T/flood.out") &
        flood=$!
        for _ in $(seq 200); do [ -e "$T/flood.ready" ] && break; sleep 0.1; done
        expect_cut=344
        if [ $family = tcp ]; then
                # from_source ADDRESS: a token sent from that source
                # address; prints the service's reply, or "cut"
                from_source() {
                        local out
                        out=$(client "$ADDR" --source "$1" --send "SVCID1 $TOKEN\nx" --report-cut) || true
                        case $out in "" | "<cut>") echo cut ;; *) echo "$out" ;; esac
                }
                # 127.0.0.2 is the same source: all of 127.0.0.0/8 is one
                reply=$(from_source 127.0.0.2)
                [ "$reply" = cut ] || fail "tcp: 127.0.0.2 was not taken for the source 127.0.0.1 holding its share: '$reply'"
                expect_cut=345
                # another source: an address of this host outside it
                other=$(ip -4 -o addr show scope global 2>/dev/null | awk '{ sub("/.*", "", $4); print $4; exit }')
                if [ -n "$other" ]; then
                        reply=$(from_source "$other")
                        [ "$reply" = served ] ||
                                fail "tcp: another source ($other) was not served while one held its share: '$reply'"
                else
                        echo "note: no IPv4 address outside 127.0.0.0/8 here: another source's service not checked"
                fi
        fi
        wait "$flood"
        [ "$(cat "$T/flood.out")" = "256 0" ] ||
                fail "$family: one source held (and left open) '$(cat "$T/flood.out")' of 600 connections, not '256 0'"
        # every cut connection is counted, the last ones within 10 s
        for _ in $(seq 150); do
                cut=$(sed -n 's/.*closed \([0-9]*\) connection(s) unread since the last such line: each source may hold 64 pending connection(s).*/\1/p' "$LOG" |
                        awk '{ n += $1 } END { print n + 0 }')
                [ "$cut" = "$expect_cut" ] && break
                sleep 0.1
        done
        [ "$cut" = "$expect_cut" ] ||
                fail "$family: $cut cut connections logged, not $expect_cut: $(grep 'unread since' "$LOG")"
        ok "$family: one source of 600 connections held 256 slots, the rest were ended unread and counted"

        # Many at once, all served, all children reaped.
        pids=()
        for i in $(seq 20); do
                client "$ADDR" --send "SVCID1 $TOKEN\nhello $i" > "$T/par.$i" & pids+=($!)
        done
        for p in "${pids[@]}"; do wait "$p"; done
        for i in $(seq 20); do [ "$(cat "$T/par.$i")" = served ] || { tail -30 "$LOG"; fail "$family: parallel client $i not served: $(cat "$T/par.$i")"; }; done
        for i in $(seq 100); do
                zombies=$(ps -o stat= --ppid "$GATE_PID" | grep -c Z || true)
                [ "$zombies" = 0 ] && break
                sleep 0.1
        done
        [ "$zombies" = 0 ] || fail "$family: $zombies unreaped service processes"
        ok "$family: 20 parallel connections served, children reaped"

        # Trust reload: a new issuer's JWKS dropped into the directory is
        # picked up without a restart; removing it withdraws the trust.
        tok2=$(mint k2 --iss svcid://second.example --aud "$AUD" --sub dave)
        cp "$T/keys/k2.jwks" "$T/trust.d/.k2.tmp" && mv "$T/trust.d/.k2.tmp" "$T/trust.d/k2.jwks"
        await_reply "$tok2" served || fail "$family: a JWKS added to the trust directory was not picked up ($reply)"
        rm "$T/trust.d/k2.jwks"
        await_reply "$tok2" "SVCID1 ERR unknown_issuer" || fail "$family: a JWKS removed from the trust directory still admits ($reply)"
        ok "$family: trust reloaded when files change"

        # SIGHUP reloads the trust even when no file changed.
        reloads=$(grep -c 'trust reloaded' "$LOG" || true)
        kill -HUP "$GATE_PID"
        for _ in $(seq 100); do [ "$(grep -c 'trust reloaded' "$LOG")" -gt "$reloads" ] && break; sleep 0.1; done
        [ "$(grep -c 'trust reloaded' "$LOG")" -gt "$reloads" ] || fail "$family: SIGHUP did not reload unchanged trust"
        ok "$family: SIGHUP reloads unchanged trust"

        # A trust file rewritten in place leaves its directory as it was:
        # the file's own change is seen. Rewriting files that are not
        # loaded reloads nothing.
        reloads=$(grep -c 'trust reloaded' "$LOG" || true)
        echo garbage > "$T/trust.d/k1.jwks~"
        echo garbage > "$T/trust.d/.k1.jwks"
        sleep 1.2
        reply=$(client "$ADDR" --send "SVCID1 $TOKEN
")
        [ "$reply" = served ] || fail "$family: a file that is not a trust file stopped admissions ($reply)"
        [ "$(grep -c 'trust reloaded' "$LOG" || true)" = "$reloads" ] ||
                fail "$family: rewriting a file that is not loaded reloaded the trust"
        echo '{"iss":' > "$T/trust.d/k1.jwks"
        await_reply "$TOKEN" "" || fail "$family: a trust file broken in place did not stop admissions ($reply)"
        cat "$T/keys/k1.jwks" > "$T/trust.d/k1.jwks"
        await_reply "$TOKEN" served || fail "$family: a trust file mended in place was not picked up ($reply)"
        cp "$T/keys/k1.jwks" "$T/trust.d/k1.jwks~"
        cp "$T/keys/k1.jwks" "$T/trust.d/.k1.jwks"
        # A change of mode alone is seen too: a trust file others may
        # write is refused, and its keys with it.
        chmod 0664 "$T/trust.d/k1.jwks"
        await_reply "$TOKEN" "" || fail "$family: a trust file made group-writable still admits ($reply)"
        grep -q 'k1.jwks: writable by group or others' "$LOG" || fail "$family: no line for a group-writable trust file"
        chmod 0644 "$T/trust.d/k1.jwks"
        await_reply "$TOKEN" served || fail "$family: a trust file made safe again was not picked up ($reply)"
        # So is a directory above it made one others may write.
        mode=$(stat -c %a "$T")
        chmod 0777 "$T"
        await_reply "$TOKEN" "" || fail "$family: trust below a directory made world-writable still admits ($reply)"
        chmod "$mode" "$T"
        await_reply "$TOKEN" served || fail "$family: trust below a directory made safe again was not picked up ($reply)"
        # Or given to another user, its mode unchanged.
        chown nobody "$T"
        await_reply "$TOKEN" "" || fail "$family: trust below a directory given to another user still admits ($reply)"
        chown 0 "$T"
        await_reply "$TOKEN" served || fail "$family: trust below a directory given back to root was not picked up ($reply)"
        ok "$family: a trust file changed in place is seen; other files in the directory are not watched"

        # Trust that does not load fails closed, as in the per-connection
        # style: every connection is closed unjudged, without a reply, with
        # a reset, until it loads again; the reason is logged once per
        # change.
        # Deleting a named trust file revokes its keys at once...
        tok3=$(mint k3 --iss svcid://third.example --aud "$AUD" --sub erin)
        reply=$(client "$ADDR" --send "SVCID1 $tok3\n")
        [ "$reply" = served ] || fail "$family: a token of the named trust file was not admitted ($reply)"
        rm "$T/named/k3.jwks"
        await_reply "$tok3" "" || fail "$family: a deleted trust file's key still admits ($reply)"
        logged=$(grep -c 'trust does not load' "$LOG")
        reset_out
        # The end is a reset (or EPIPE), not the clean end of a service
        # that said nothing: a client must not take it for a success.
        for tok in "$tok3" "$TOKEN" "$tok3"; do
                reply=$(client "$ADDR" --send "SVCID1 $tok\n" --report-cut)
                [ "$reply" = "<cut>" ] || fail "$family: while the trust does not load, the reply was '$reply', not a reset"
        done
        [ ! -e "$T/out/env" ] || fail "$family: a service ran while the trust does not load"
        [ "$logged" -ge 1 ] && [ "$(grep -c 'trust does not load' "$LOG")" = "$logged" ] ||
                fail "$family: the unloadable trust was not logged once: $(grep 'trust does not load' "$LOG")"
        # ...and restoring it admits again.
        cp "$T/keys/k3.jwks" "$T/named/k3.jwks"
        await_reply "$tok3" served || fail "$family: a restored trust file was not picked up ($reply)"
        ok "$family: a deleted trust file refuses every connection until it is restored"
        # A broken file is the same: nothing admitted until it is fixed.
        echo '{"iss":' > "$T/trust.d/broken.jwks"
        kill -HUP "$GATE_PID"
        await_reply "$TOKEN" "" || fail "$family: a broken trust file did not stop admissions ($reply)"
        rm "$T/trust.d/broken.jwks"
        await_reply "$TOKEN" served || fail "$family: not admitting again once the broken file was removed ($reply)"
        grep -q 'broken.jwks' "$LOG" || fail "$family: no log line naming the broken trust file"
        ok "$family: a broken trust file refuses every connection until it is removed"

        # A trust file deleted while a connection's preamble is on its way:
        # the trust is checked again when the token arrives (more than a
        # second after), so the deleted key admits no one; the preamble
        # read, the client is told (internal_error), not left with a
        # silent end.
        reset_out
        nfd=$(ls "/proc/$GATE_PID/fd" | wc -l)
        client "$ADDR" --hold 2.5 --send "SVCID1 $tok3\n" > "$T/gone.out" &
        gone=$!
        for _ in $(seq 100); do [ "$(ls "/proc/$GATE_PID/fd" | wc -l)" -gt "$nfd" ] && break; sleep 0.05; done
        rm "$T/named/k3.jwks"
        wait "$gone" || true
        [ "$(cat "$T/gone.out")" = "SVCID1 ERR internal_error" ] ||
                fail "$family: a trust file deleted while the preamble came: the client got '$(cat "$T/gone.out")'"
        [ ! -e "$T/out/env" ] || fail "$family: a trust file deleted while the preamble came: the service ran"
        grep -q 'refused reason=internal_error detail="no trust loads"' "$LOG" ||
                fail "$family: a trust file deleted while the preamble came: no refusal in the log"
        cp "$T/keys/k3.jwks" "$T/named/k3.jwks"
        await_reply "$tok3" served || fail "$family: the trust file restored was not picked up ($reply)"
        ok "$family: a trust file deleted while the preamble came admits no one: internal_error"

        # SIGTERM: stop accepting, close the connections not yet judged,
        # pass SIGTERM on to the running services (systemd's KillMode=mixed
        # signals only the gate) and wait for them, then exit 0.
        reset_out
        rm -f "$T/go"
        client "$ADDR" --send "SVCID1 $TOKEN\nfirst part " --then-after "$T/go" --then "second part" > "$T/term.out" &
        cpid=$!
        wait_for "$T/out/env" || fail "$family: the service for the SIGTERM check did not start"
        # Its preamble is still arriving at SIGTERM: closed, never judged.
        client "$ADDR" --send "SVCID1 ${TOKEN:0:20}" --pause 1.5 --then "${TOKEN:20}\nunjudged" \
                > "$T/unjudged.out" 2>/dev/null &
        unjudged=$!
        sleep 0.3
        kill -TERM "$GATE_PID"
        sleep 0.3
        # After SIGTERM nothing new is admitted: this one waits in the
        # backlog and is dropped when the gate exits.
        client "$ADDR" --send "SVCID1 $TOKEN\nlate" > "$T/late.out" 2>/dev/null &
        late=$!
        # The service has its SIGTERM and is still reading: the gate waits.
        wait_for "$T/out/term" || fail "$family: the running service was not sent SIGTERM"
        kill -0 "$GATE_PID" 2>/dev/null || fail "$family: the gate exited while its service still ran"
        touch "$T/go"
        wait "$cpid" || true
        wait "$unjudged" || true
        wait "$late" || true
        [ "$(cat "$T/late.out")" != served ] || fail "$family: a connection made after SIGTERM was served"
        [ "$(cat "$T/unjudged.out")" != served ] || fail "$family: a connection still being read at SIGTERM was admitted"
        [ -s "$T/out/term" ] || fail "$family: the running service was not sent SIGTERM"
        [ "$(cat "$T/term.out")" = served ] || fail "$family: the running service did not finish after SIGTERM"
        [ "$(cat "$T/out/data")" = "first part second part" ] || fail "$family: the running service lost data at SIGTERM"
        rc=0
        for i in $(seq 100); do kill -0 "$GATE_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$GATE_PID" 2>/dev/null && fail "$family: the gate did not exit after SIGTERM"
        wait "$GATE_PID" || rc=$?
        [ "$rc" = 0 ] || fail "$family: the gate exited $rc after SIGTERM"
        ok "$family: SIGTERM closed an unjudged connection, reached the running service, the gate exited 0"

        if grep -E "Sanitizer|runtime error" "$LOG"; then fail "$family: sanitizer report in the gate's log"; fi
        grep -q 'admitted sub="carol"' "$LOG" || fail "$family: no audit line for admissions"
        grep -q 'refused reason=unknown_issuer' "$LOG" || fail "$family: no audit line for refusals"
        [ $family = unix ] && rm -f "$ADDR"
done
# Out of descriptors: the gate pauses accepting instead of spinning, and
# serves again once the silent clients holding them have timed out.
: > "$LOG"
SSA_LOG=$LOG
bash -c 'ulimit -n 20; exec "$@"' limit systemd-socket-activate -l "$T/fd.sock" "${SSA_ENV[@]}" \
        "$GATE" -a "$AUD" --trust "$T/trust.d" --timeout 1 -- "$T/svc.sh" 2>>"$LOG" &
SSA_PID=$!; BG_PIDS+=("$SSA_PID")
for i in $(seq 100); do [ -S "$T/fd.sock" ] && break; sleep 0.1; done
pids=()
for i in $(seq 30); do client "$T/fd.sock" --no-shut > /dev/null & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || true; done
grep -q 'accept failed, pausing' "$LOG" || fail "the descriptor limit was never reached (test did not test)"
pauses=$(grep -c 'accept failed, pausing' "$LOG")
[ "$pauses" -lt 200 ] || fail "the gate spun on accept: $pauses warnings"
reply=$(client "$T/fd.sock" --send "SVCID1 $TOKEN\n")
[ "$reply" = served ] || fail "not served after running out of descriptors: '$reply'"
stop_ssa
ok "out of descriptors: accepting paused ($pauses warnings), served again afterwards"

# inetd "wait" style (StandardInput=socket, Accept=no): the listening
# socket is the gate's stdin and, by systemd's default, its stderr too.
# The service must not inherit the listener on fd 2, or it could accept
# callers the gate never judged: it gets /dev/null there instead.
cat > "$T/launch.py" <<'PY'
import os, socket, sys
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path); s.listen(16)
for fd in (0, 1, 2):
    os.dup2(s.fileno(), fd)
with open(out, "w") as f:
    f.write(f"socket:[{os.fstat(s.fileno()).st_ino}]\n")
os.execv(sys.argv[3], sys.argv[3:])
PY
cat > "$T/fd2.py" <<PY
#!$PY
import os, socket
link = os.readlink("/proc/self/fd/2")
listening = "-"
if link.startswith("socket:"):
    s = socket.socket(fileno=os.dup(2))
    listening = str(s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
with open("$T/out/fd2.tmp", "w") as f:
    f.write(f"{link} {listening}\n")
os.rename("$T/out/fd2.tmp", "$T/out/fd2")
os.write(1, b"served\n")
PY
chmod 755 "$T/fd2.py"
"$PY" "$T/launch.py" "$T/stdin.sock" "$T/listener.id" "$GATE" -a "$AUD" --trust "$T/trust.d" -- "$T/fd2.py" &
STDIN_GATE=$!; BG_PIDS+=("$STDIN_GATE")
for i in $(seq 100); do [ -S "$T/stdin.sock" ] && [ -s "$T/listener.id" ] && break; sleep 0.1; done
reset_out
reply=$(client "$T/stdin.sock" --send "SVCID1 $TOKEN\n")
[ "$reply" = served ] || fail "listener on stdin and stderr: not served: '$reply'"
wait_for "$T/out/fd2" || fail "listener on stdin and stderr: the service did not report its fd 2"
read -r link listening < "$T/out/fd2"
[ "$link" != "$(cat "$T/listener.id")" ] && [ "$listening" != 1 ] ||
        fail "listener on stdin and stderr: the service inherited the listening socket on fd 2 ($link, SO_ACCEPTCONN $listening)"
[ "$link" = /dev/null ] || fail "listener on stdin and stderr: fd 2 of the service is $link, not /dev/null"
kill "$STDIN_GATE"; wait "$STDIN_GATE" || true
ok "listener on stdin and stderr: the service's fd 2 is /dev/null, not the listener"

# A usage error (a wrong unit) with the listening socket on stdin: that
# socket is systemd's and outlives the gate, so it is left as it was (no
# SO_LINGER reset): a connection accepted from it later still ends with
# a FIN, not a reset.
cat > "$T/usage-listen.py" <<'PY'
import socket, subprocess, sys
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4)
rc = subprocess.run(sys.argv[1:], stdin=l.fileno(), stderr=subprocess.DEVNULL).returncode
c = socket.create_connection(l.getsockname())
a, _ = l.accept()
a.sendall(b"bye"); a.close()
got = b""
try:
    while True:
        d = c.recv(10)
        if not d:
            break
        got += d
    print(rc, "clean" if got == b"bye" else "data %r" % got)
except ConnectionResetError:
    print(rc, "reset")
PY
got=$("$PY" "$T/usage-listen.py" "$GATE" -a "$AUD" --trust "$T/trust.d" --timeout 0 -- /bin/true)
[ "$got" = "2 clean" ] || fail "a usage error on a listening socket: '$got', not 2 and the socket left as it was"
ok "a usage error leaves a listening socket as it was: what it accepts later ends cleanly"

# A reload asked for while the gate is still loading its trust (systemctl
# reload right after a start) waits for the loop; it must not kill the
# gate. systemd-socket-activate starts the gate at the first connection;
# strace then holds the gate in its first open of the trust directory for
# two seconds (fault injection: the window is otherwise a few ms).
if command -v strace >/dev/null; then
        : > "$LOG"
        strace -f -qq -o /dev/null -P "$T/trust.d" -e trace=openat -e inject=openat:delay_enter=2000000:when=1 \
                systemd-socket-activate -l "$T/hup.sock" "${SSA_ENV[@]}" "$GATE" -a "$AUD" --trust "$T/trust.d" \
                -- "$T/svc.sh" 2>>"$LOG" &
        tracer=$!; BG_PIDS+=("$tracer")
        for i in $(seq 100); do [ -S "$T/hup.sock" ] && break; sleep 0.1; done
        gate=$(pgrep -P "$tracer" || true)
        [ -n "$gate" ] || fail "SIGHUP at start: systemd-socket-activate did not start"
        BG_PIDS+=("$gate")
        reset_out
        client "$T/hup.sock" --send "SVCID1 $TOKEN\n" > "$T/hup.out" &
        hup_client=$!
        for i in $(seq 100); do
                [ "$(cat "/proc/$gate/comm" 2>/dev/null)" = svcid-gate ] && break
                sleep 0.05
        done
        sleep 0.5
        kill -HUP "$gate"
        wait "$hup_client" || true
        kill -0 "$gate" 2>/dev/null || fail "SIGHUP at start killed the gate: $(cat "$LOG")"
        [ "$(cat "$T/hup.out")" = served ] || fail "SIGHUP at start: reply '$(cat "$T/hup.out")', not 'served'"
        kill "$gate"; wait "$tracer" || true
        ok "a SIGHUP while the trust loads at start reloads; it does not kill the gate"
else
        echo "skip: SIGHUP at start (no strace)"
fi

# --max-services: with two services running (cat, holding the connection
# open), a third client waits in the listen queue, unaccepted, until one
# ends; then it is admitted.
: > "$LOG"
start_ssa "$LOG" "$T/cap.sock" -- -a "$AUD" --trust "$T/trust.d" --max-services 2 -- /bin/cat
GATE_PID=$SSA_PID
holders=()
for i in 1 2; do
        client "$T/cap.sock" --send "SVCID1 $TOKEN\nhold $i" --no-shut --timeout 20 > /dev/null & holders+=($!)
done
for _ in $(seq 100); do [ "$(grep -c 'admitted' "$LOG")" = 2 ] && break; sleep 0.1; done
[ "$(grep -c 'admitted' "$LOG")" = 2 ] || fail "max-services: the first two were not admitted: $(cat "$LOG")"
client "$T/cap.sock" --send "SVCID1 $TOKEN\nthird" > "$T/third.out" &
third=$!
sleep 1
[ "$(grep -c 'admitted' "$LOG")" = 2 ] || fail "max-services 2: a third service started: $(cat "$LOG")"
[ "$(ps -o pid= --ppid "$GATE_PID" | wc -l)" = 2 ] || fail "max-services 2: $(ps -o pid= --ppid "$GATE_PID" | wc -l) services run"
kill -0 "$third" 2>/dev/null || fail "max-services 2: the third client ended while two services ran: $(cat "$T/third.out")"
kill "${holders[0]}"
wait "$third" || fail "max-services: the third client failed"
[ "$(cat "$T/third.out")" = third ] || fail "max-services: the third client got '$(cat "$T/third.out")'"
kill "${holders[1]}" 2>/dev/null || true
stop_ssa
ok "--max-services 2: a third client waited, unaccepted, until a service ended"

# Started with SIGCHLD ignored, by a socket activator other than systemd
# (systemd and systemd-socket-activate set it back; a disposition of
# SIG_IGN survives exec): the kernel would reap the services itself, and
# a gate that waits for them would count them running for ever, admit
# nobody once --max-services had run, and not stop on SIGTERM (sending it
# to pids long gone, perhaps reused). It sets SIGCHLD back to the default.
: > "$LOG"
"$PY" -c '
import os, signal, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(16)
if s.fileno() != 3: os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
os.execv(sys.argv[2], sys.argv[2:])' "$T/ign.sock" "$GATE" -a "$AUD" --trust "$T/trust.d" --max-services 2 -- /bin/cat \
        2>>"$LOG" &
GATE_PID=$!
BG_PIDS+=("$GATE_PID")
for _ in $(seq 100); do grep -q "accepting connections" "$LOG" && break; sleep 0.1; done
grep -q "accepting connections" "$LOG" || fail "SIGCHLD ignored at start: the gate did not start: $(cat "$LOG")"
for i in 1 2 3 4 5; do
        out=$(client "$T/ign.sock" --send "SVCID1 $TOKEN\nrun $i" --timeout 10)
        if [ "$out" != "run $i" ]; then
                kill -KILL "$GATE_PID"
                fail "SIGCHLD ignored at start: client $i got '$out': $(cat "$LOG")"
        fi
done
kill -TERM "$GATE_PID"
for _ in $(seq 100); do kill -0 "$GATE_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$GATE_PID" 2>/dev/null; then
        kill -KILL "$GATE_PID"
        fail "SIGCHLD ignored at start: the gate did not stop on SIGTERM: $(cat "$LOG")"
fi
wait "$GATE_PID" || fail "SIGCHLD ignored at start: the gate exited $? on SIGTERM: $(cat "$LOG")"
grep -E "Sanitizer|runtime error" "$LOG" && fail "sanitizer report in the gate's log"
ok "started with SIGCHLD ignored: services are reaped, --max-services 2 admits a fifth, SIGTERM stops it"

# --max-services below the pending slots sets the share: 32 services,
# half of them (16) taken freely by one source, which then gets no more
# (its share is 4); another user's client is served meanwhile.
: > "$LOG"
start_ssa "$LOG" "$T/cap32.sock" -- -a "$AUD" --trust "$T/trust.d" --max-services 32 --timeout 5 -- /bin/cat
flood_and_other "$T/cap32.sock" 40 "max-services 32"
stop_ssa
[ "$(cat "$T/flood.out")" = "16 0" ] || fail "max-services 32: one source held '$(cat "$T/flood.out")' of 40, not '16 0'"
# the gate stopped within 10 s of its first line: the rest is counted as it stops
cut=$(sed -n 's/.*closed \([0-9]*\) connection(s) unread since the last such line.*/\1/p' "$LOG" | awk '{ n += $1 } END { print n + 0 }')
[ "$cut" = 24 ] || fail "max-services 32: $cut cut connections logged, not 24: $(grep 'unread since' "$LOG")"
ok "--max-services 32: one source held 16 of 40 connections; another user was served; 24 ended, all counted"

# Services that run take slots too: with 8 of 16 running, one source's
# silent connections hold half of the 8 left (4), and another user's
# client is served meanwhile.
: > "$LOG"
start_ssa "$LOG" "$T/cap16.sock" -- -a "$AUD" --trust "$T/trust.d" --max-services 16 --timeout 5 -- /bin/cat
holders=()
for i in $(seq 8); do
        client "$T/cap16.sock" --send "SVCID1 $TOKEN\nhold $i" --no-shut --timeout 30 > /dev/null & holders+=($!)
done
for _ in $(seq 100); do [ "$(grep -c 'admitted' "$LOG")" = 8 ] && break; sleep 0.1; done
[ "$(grep -c 'admitted' "$LOG")" = 8 ] || fail "max-services 16: eight services did not start: $(cat "$LOG")"
flood_and_other "$T/cap16.sock" 8 "max-services 16"
kill "${holders[@]}" 2>/dev/null || true
stop_ssa
[ "$(cat "$T/flood.out")" = "4 0" ] || fail "max-services 16, 8 running: one source held '$(cat "$T/flood.out")' of 8, not '4 0'"
ok "--max-services 16 with 8 services running: one source held 4 of the 8 slots left; another user was served"

# A refused connection holds its slot while the gate drains it (a second
# at most): it counts against its source. One source that has each of its
# connections refused and keeps them all open must not keep another user
# waiting in the listen queue: the other user is served while the source
# still holds them (it lets go once that client is done, or after 20 s).
: > "$LOG"
start_ssa "$LOG" "$T/drain.sock" -- -a "$AUD" --trust "$T/trust.d" --max-services 16 -- /bin/cat
chmod 755 "$T"; chmod 666 "$T/drain.sock"
rm -f "$T/hog.ready" "$T/victim.done"
"$PY" - "$T/drain.sock" "$T" > "$T/hog.out" <<'PYEOF' &
import os, socket, sys, time
path, t = sys.argv[1], sys.argv[2]
held, cut = [], 0
end = time.time() + 20
for i in range(400):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        s.sendall(b"SVCID1 x\n")     # refused at once; never read, never closed
        held.append(s)
    except OSError:
        cut += 1
    if i == 199:
        open(t + "/hog.ready", "w").close()
while time.time() < end and not os.path.exists(t + "/victim.done"):
    time.sleep(0.05)
print("held" if os.path.exists(t + "/victim.done") else "let go", len(held) + cut)
PYEOF
hog=$!
for _ in $(seq 200); do [ -e "$T/hog.ready" ] && break; sleep 0.1; done
reply=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$PY" "$T/client.py" "$T/drain.sock" \
        --send "SVCID1 $TOKEN\nother user" --timeout 60)
touch "$T/victim.done"
wait "$hog" || true
stop_ssa
[ "$reply" = "other user" ] || fail "refused and held: another user's client got '$reply'"
[ "$(cat "$T/hog.out")" = "held 400" ] ||
        fail "refused and held: another user was served only once the source let go ($(cat "$T/hog.out"))"
ok "a source whose connections are refused and kept open does not keep another user waiting"

# The per-source share is a count a source may hold, not one more:
# with 16 slots (share 2), another user first takes the half that is
# free to anyone (8); then this uid's connections get exactly 2 slots,
# and the rest are closed unread, each counted in the log.
: > "$LOG"
start_ssa "$LOG" "$T/share.sock" -- -a "$AUD" --trust "$T/trust.d" --max-services 16 --timeout 10 -- /bin/cat
chmod 755 "$T"; chmod 666 "$T/share.sock"
mkdir -m 0777 "$T/share.d"      # where nobody's flood.py says it is ready
setpriv --reuid=nobody --regid=nogroup --clear-groups "$PY" "$T/flood.py" "$T/share.sock" 8 "$T/share.d/others.ready" \
        > "$T/others.out" &
others=$!
for _ in $(seq 200); do [ -e "$T/share.d/others.ready" ] && break; sleep 0.1; done
[ -e "$T/share.d/others.ready" ] || fail "share: the other user's 8 connections did not open"
# connections are accepted in the order they were made: the other
# user's 8 first; this uid's 6 each from a process of its own: a
# source is the uid, not the process
"$PY" "$T/flood.py" "$T/share.sock" 6 "$T/share.d/mine.ready" fork > "$T/mine.out" || true
wait "$others" || true
stop_ssa
[ "$(cat "$T/others.out")" = "8 0" ] || fail "share: the other user held '$(cat "$T/others.out")' of 8, not '8 0'"
[ "$(cat "$T/mine.out")" = "2 0" ] ||
        fail "share 2: one source held '$(cat "$T/mine.out")' of 6 once half the slots were busy, not '2 0'"
cut=$(sed -n 's/.*closed \([0-9]*\) connection(s) unread since the last such line: each source may hold 2 pending connection(s); the last from unix:.*uid='"$(id -u)"',.*/\1/p' "$LOG" |
      awk '{ n += $1 } END { print n + 0 }')
[ "$cut" = 4 ] || fail "share 2: $cut cut connections logged, not 4: $(grep 'unread since' "$LOG")"
ok "share 2: with half the slots busy, one source held exactly 2 of 6 connections; 4 closed unread, all counted"

# A refused client that keeps sending is drained for 1 MiB at most.
: > "$LOG"
start_ssa "$LOG" "$T/drainmax.sock" -- -a "$AUD" --trust "$T/trust.d" -- /bin/cat
drain_check "$T/drainmax.sock"
stop_ssa
grep -q 'refused reason=malformed' "$LOG" || fail "drain cap: the refusal is not logged"
ok "a refused client that keeps sending is cut after $DRAIN_SENT bytes (1 MiB drained and the buffers)"

# --max-services 2: one client's two connections at once, both waiting for
# their preamble, are both served: a source may always have two.
: > "$LOG"
start_ssa "$LOG" "$T/cap2.sock" -- -a "$AUD" --trust "$T/trust.d" --max-services 2 -- /bin/cat
client "$T/cap2.sock" --hold 1 --send "SVCID1 $TOKEN\none" > "$T/two.1" & c1=$!
client "$T/cap2.sock" --hold 1 --send "SVCID1 $TOKEN\ntwo" > "$T/two.2" & c2=$!
wait "$c1" "$c2" || true
stop_ssa
[ "$(cat "$T/two.1") $(cat "$T/two.2")" = "one two" ] ||
        fail "max-services 2: two connections at once got '$(cat "$T/two.1")' and '$(cat "$T/two.2")'"
ok "--max-services 2: two connections of one client at once, both served"

# Trust named through a symbolic link to a directory is judged by the
# directories it resolves to, and so is watched: one of those made
# world-writable stops admissions until it is safe again.
mkdir -p "$T/real.d/sub"
cp "$T/keys/k1.jwks" "$T/real.d/sub/k1.jwks"
ln -s "$T/real.d/sub" "$T/link.d"
: > "$LOG"
ADDR=$T/link.sock
start_ssa "$LOG" "$ADDR" -- -a "$AUD" --trust "$T/link.d/k1.jwks" --timeout 4 -- "$T/svc.sh"
await_reply "$TOKEN" served || fail "trust through a symbolic link: not served ($reply)"
chmod 0777 "$T/real.d"
await_reply "$TOKEN" "" || fail "trust through a symbolic link: a directory it resolves to made world-writable still admits ($reply)"
chmod 0755 "$T/real.d"
await_reply "$TOKEN" served || fail "trust through a symbolic link: that directory made safe again was not picked up ($reply)"
stop_ssa
ok "trust through a symbolic link: the directories it resolves to are watched"

# On a dual-stack socket ([::]) an IPv4 client arrives as ::ffff:a.b.c.d:
# its source is still its IPv4 address (all of 127.0.0.0/8 being one),
# not the /64 that every IPv4 address shares there. With 16 slots (share
# 2): 127.0.0.2's 8 connections take the free half; 127.0.0.1, the same
# source, then gets none, and another address of this host exactly 2.
if "$PY" -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::",0))' 2>/dev/null; then
        : > "$LOG"
        port=$(free_port)
        other=$(ip -4 -o addr show scope global 2>/dev/null | awk '{ sub("/.*", "", $4); print $4; exit }')
        start_ssa "$LOG" "[::]:$port" -- -a "$AUD" --trust "$T/trust.d" --max-services 16 --timeout 10 -- /bin/cat
        rm -f "$T/v4a.ready" "$T/v4b.ready" "$T/v4c.ready"
        "$PY" "$T/flood.py" "127.0.0.1:$port" 8 "$T/v4a.ready" src=127.0.0.2 > "$T/v4a.out" &
        v4a=$!
        for _ in $(seq 200); do [ -e "$T/v4a.ready" ] && break; sleep 0.1; done
        "$PY" "$T/flood.py" "127.0.0.1:$port" 6 "$T/v4b.ready" > "$T/v4b.out" || true
        [ -z "$other" ] || "$PY" "$T/flood.py" "127.0.0.1:$port" 6 "$T/v4c.ready" "src=$other" > "$T/v4c.out" || true
        wait "$v4a" || true
        stop_ssa
        [ "$(cat "$T/v4a.out")" = "8 0" ] || fail "dual-stack: 127.0.0.2 held '$(cat "$T/v4a.out")' of 8, not '8 0'"
        [ "$(cat "$T/v4b.out")" = "0 0" ] ||
                fail "dual-stack: 127.0.0.1 held '$(cat "$T/v4b.out")' of 6, not '0 0': not one source with 127.0.0.2"
        if [ -n "$other" ]; then
                [ "$(cat "$T/v4c.out")" = "2 0" ] ||
                        fail "dual-stack: $other held '$(cat "$T/v4c.out")' of 6, not '2 0': IPv4 clients taken for one source"
                ok "dual-stack socket: IPv4 clients are sources by address (127.0.0.0/8 one), each with its share"
        else
                ok "dual-stack socket: 127.0.0.0/8 is one source (no other IPv4 address here to be another)"
        fi
else
        echo "note: no IPv6 here, the dual-stack share not exercised"
fi

# The long-lived gate's exit status when it cannot start: 2 for trust
# that does not load and for a command that cannot be executed (not
# found, or a directory), each said in the log.
cat > "$T/listen.py" <<'PY'
import os, socket, subprocess, sys
l = socket.socket(socket.AF_UNIX); l.bind(sys.argv[1]); l.listen(8)
if l.fileno() != 3:
    os.dup2(l.fileno(), 3)
os.set_inheritable(3, True)
env = dict(os.environ, LISTEN_FDS="1")
p = subprocess.Popen(["sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh"] + sys.argv[2:], pass_fds=[3], env=env,
                     stdin=subprocess.DEVNULL)
try:
    print(p.wait(timeout=30))
except subprocess.TimeoutExpired:
    p.kill(); print("still running")
PY
while IFS='|' read -r trust cmd words; do
        : > "$LOG"
        rm -f "$T/start.sock"
        got=$("$PY" "$T/listen.py" "$T/start.sock" "$GATE" -a "$AUD" --trust "$trust" -- "$cmd" 2>>"$LOG")
        [ "$got" = 2 ] || fail "long-lived, --trust $trust, command $cmd: exit status $got, not 2"
        grep -qF "$words" "$LOG" || fail "long-lived, --trust $trust, command $cmd: the log: $(cat "$LOG")"
done <<CASES
$T/no-such.jwks|/bin/cat|cannot load trust
$T/trust.d|$T/no-such-command|cannot execute "$T/no-such-command": No such file or directory
$T/trust.d|$T|cannot execute "$T": Permission denied
CASES
ok "long-lived: trust that does not load, or a command not found or a directory, exits 2 and says why"

# A poll() that fails (EIO, injected by strace; the listening socket as
# standard input, as inetd hands it, since strace's child is not the
# LISTEN_PID) ends the gate: a failure, not a stop asked for, so exit 1.
if command -v strace >/dev/null && strace -f -o /dev/null true 2>/dev/null; then
        cat > "$T/listen-stdin.py" <<'PY'
import socket, subprocess, sys
l = socket.socket(socket.AF_UNIX); l.bind(sys.argv[1]); l.listen(8)
p = subprocess.Popen(sys.argv[2:], stdin=l.fileno())
try:
    print(p.wait(timeout=30))
except subprocess.TimeoutExpired:
    p.kill(); print("still running")
PY
        : > "$LOG"
        rm -f "$T/poll.sock"
        # (LeakSanitizer cannot work under strace: SANITIZE=1 builds)
        got=$(ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "$PY" "$T/listen-stdin.py" "$T/poll.sock" strace -f -q -o /dev/null -e trace=poll \
                -e inject=poll:error=EIO:when=1 "$GATE" -a "$AUD" --trust "$T/trust.d" -- /bin/cat 2>>"$LOG")
        [ "$got" = 1 ] || fail "long-lived, poll() failing: exit status $got, not 1: $(cat "$LOG")"
        grep -qF "poll failed: Input/output error" "$LOG" || fail "long-lived, poll() failing: the log: $(cat "$LOG")"
        ok "long-lived: a poll() that fails exits 1 and says why"
else
        echo "note: strace missing or cannot trace here; a failed poll() is not checked"
fi

# A valid token whose service cannot be started (no fork: the gate's
# cgroup may hold no more processes, as under a unit's TasksMax) is not
# served by a silent end: in line mode the client is told internal_error.
PIDS_CG=/sys/fs/cgroup/pids
[ -w "$PIDS_CG/cgroup.procs" ] || PIDS_CG=""
if [ -n "$PIDS_CG" ]; then
        : > "$LOG"
        cg=$PIDS_CG/svcid-gate-test-$$
        mkdir "$cg"
        start_ssa "$LOG" "$T/nofork.sock" -- -a "$AUD" --trust "$T/trust.d" -- /bin/echo served
        # (a cgroup goes once its process has)
        EXTRA_CLEANUP+=("kill $SSA_PID 2>/dev/null; for _ in \$(seq 50); do rmdir $cg 2>/dev/null && break; sleep 0.1; done")
        echo "$SSA_PID" > "$cg/cgroup.procs"
        echo 1 > "$cg/pids.max"
        reset_out
        reply=$(client "$T/nofork.sock" --send "SVCID1 $TOKEN\n" --report-cut)
        [ "$reply" = "SVCID1 ERR internal_error" ] || fail "no fork: the client got '$reply', not internal_error"
        grep -q 'cannot fork for the connection' "$LOG" && grep -q 'refused reason=internal_error detail="cannot fork"' "$LOG" ||
                fail "no fork: the log: $(cat "$LOG")"
        echo max > "$cg/pids.max"
        reply=$(client "$T/nofork.sock" --send "SVCID1 $TOKEN\n")
        [ "$reply" = served ] || fail "no fork: not served once it can fork again: '$reply'"
        stop_ssa
        rmdir "$cg"
        ok "long-lived: a service that cannot be forked is an internal_error refusal, not a silent end"
else
        echo "note: no writable pids cgroup at /sys/fs/cgroup/pids, a failed fork not exercised"
fi

echo "all long-lived gate checks passed"
