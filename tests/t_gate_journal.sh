#!/bin/bash
# SPDX-License-Identifier: MIT
# svcid-gate's audit records: (1) in inetd style with stderr on the
# connection itself (systemd's default StandardError=inherit), nothing the
# gate logs may reach the client or the service's output; (2) with a
# journal socket, the records are native journal datagrams with the
# structured fields and MESSAGE_IDs of svcid-gate(8), and never the token.
# (2) runs in a private mount namespace with its own /run, so the host's
# /run/systemd/journal is neither needed nor touched.
set -euo pipefail
. "$(dirname "$0")/t_gate_common.sh"

ISS=svcid://gate-journal-test.example
AUD=audit
keygen k1 "$ISS"
TOKEN=$(mint k1 --iss "$ISS" --aud "$AUD" --sub erin --uid 4242 --unit build-x.service)
EXPIRED=$(mint k1 --iss "$ISS" --aud "$AUD" --sub erin --iat-offset -1000)
AUTO_TOKEN=$(mint k1 --iss "$ISS" --aud "$AUD" --sub frank)
PLAIN_TOKEN=$(mint k1 --iss "$ISS" --aud "$AUD" --sub gina)
LOG=$T/gate.log

# (1) stderr is the connection: the client reads only the refusal line,
# and an admitted client only the service's output.
cat > "$T/wrap.sh" <<EOF2
#!/bin/sh
exec "\$@" 2>&1
EOF2
chmod 755 "$T/wrap.sh"
# The same with --log-target stderr: standard error that is the
# connection is still not written to.
for target in auto stderr; do
        : > "$LOG"
        rm -f "$T/inetd.sock"
        systemd-socket-activate -l "$T/inetd.sock" -a --inetd "${SSA_ENV[@]}" "$T/wrap.sh" "$GATE" -a "$AUD" \
                --trust "$T/keys/k1.jwks" --log-target "$target" -- /bin/echo service-output 2>>"$LOG" &
        SSA_PID=$!; BG_PIDS+=("$SSA_PID")
        for i in $(seq 100); do [ -S "$T/inetd.sock" ] && break; sleep 0.1; done
        reply=$(client "$T/inetd.sock" --send "SVCID1 $EXPIRED\n")
        [ "$reply" = "SVCID1 ERR expired" ] || fail "$target: stderr on the connection: the client got '$reply'"
        reply=$(client "$T/inetd.sock" --send "SVCID1 $TOKEN\n")
        [ "$reply" = "service-output" ] || fail "$target: stderr on the connection: an admitted client got '$reply'"
        stop_ssa
        ok "$target: stderr on the connection: no log line reached the client"
done
# The service inherits that stderr, the connection, as it is: only a
# listening socket there is replaced (by /dev/null).
: > "$LOG"
systemd-socket-activate -l "$T/inetd2.sock" -a --inetd "${SSA_ENV[@]}" "$T/wrap.sh" "$GATE" -a "$AUD" \
        --trust "$T/keys/k1.jwks" -- /bin/sh -c 'echo to-stderr >&2' 2>>"$LOG" &
SSA_PID=$!; BG_PIDS+=("$SSA_PID")
for i in $(seq 100); do [ -S "$T/inetd2.sock" ] && break; sleep 0.1; done
reply=$(client "$T/inetd2.sock" --send "SVCID1 $TOKEN\n")
[ "$reply" = "to-stderr" ] || fail "stderr on the connection: the service's stderr did not reach the client: '$reply'"
stop_ssa
ok "stderr on the connection: the service's stderr reaches the client"

# (2) the native journal protocol.
[ "$(id -u)" = 0 ] || skip "journal check needs root for a private mount namespace"
command -v unshare >/dev/null || skip "unshare missing"

NL_CMD=$T/no-such$'\n''forged line'
cat > "$T/ns.sh" <<EOF2
#!/bin/bash
set -euo pipefail
mount --make-rprivate / 2>/dev/null || true
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal
$PY "$SVCID_SRC/tests/journald.py" /run/systemd/journal/socket "$T/journal.txt" &
for i in \$(seq 100); do [ -e "$T/journal.txt.ready" ] && break; sleep 0.1; done
[ -e "$T/journal.txt.ready" ] || { echo "receiver did not start"; exit 1; }
rc=0
(
  systemd-socket-activate -l "$T/j.sock" -a ${SSA_ENV[*]:-} "$GATE" -a "$AUD" --trust "$T/keys/k1.jwks" \
        --log-target journal -- /bin/true 2>>"$LOG" &
  ssa=\$!
  for i in \$(seq 100); do [ -S "$T/j.sock" ] && break; sleep 0.1; done
  $PY "$T/client.py" "$T/j.sock" --send "SVCID1 $TOKEN\n" > /dev/null
  $PY "$T/client.py" "$T/j.sock" --send "SVCID1 $EXPIRED\n" > "$T/refused.out"
  kill \$ssa; wait \$ssa 2>/dev/null || true
  # a gate whose trust does not load: its notice
  systemd-socket-activate -l "$T/nt.sock" -a ${SSA_ENV[*]:-} "$GATE" -a "$AUD" --trust "$T/keys/absent.jwks" \
        --log-target journal -- /bin/true 2>>"$LOG" &
  ssa=\$!
  for i in \$(seq 100); do [ -S "$T/nt.sock" ] && break; sleep 0.1; done
  $PY "$T/client.py" "$T/nt.sock" --send "SVCID1 $TOKEN\n" > /dev/null || true
  kill \$ssa; wait \$ssa 2>/dev/null || true
  # a gate whose command has a newline in its name: its notice keeps its
  # MESSAGE, made one printable line
  systemd-socket-activate -l "$T/nl.sock" -a ${SSA_ENV[*]:-} "$GATE" -a "$AUD" --trust "$T/keys/k1.jwks" \
        --log-target journal -- "$NL_CMD" 2>>"$LOG" &
  ssa=\$!
  for i in \$(seq 100); do [ -S "$T/nl.sock" ] && break; sleep 0.1; done
  $PY "$T/client.py" "$T/nl.sock" --send "SVCID1 $TOKEN\n" > /dev/null || true
  kill \$ssa; wait \$ssa 2>/dev/null || true
  # the default target, with stderr the journal stream (\$JOURNAL_STREAM)
  : > "$T/js.stderr"
  systemd-socket-activate -l "$T/js.sock" -a ${SSA_ENV[*]:-} -E JOURNAL_STREAM=\$(stat -c '%d:%i' "$T/js.stderr") \
        "$GATE" -a "$AUD" --trust "$T/keys/k1.jwks" -- /bin/true 2>>"$T/js.stderr" &
  ssa=\$!
  for i in \$(seq 100); do [ -S "$T/js.sock" ] && break; sleep 0.1; done
  $PY "$T/client.py" "$T/js.sock" --send "SVCID1 $AUTO_TOKEN\n" > /dev/null
  kill \$ssa; wait \$ssa 2>/dev/null || true
  # the default target, with stderr a plain file: there, though a journal listens
  systemd-socket-activate -l "$T/pl.sock" -a ${SSA_ENV[*]:-} "$GATE" -a "$AUD" --trust "$T/keys/k1.jwks" \
        -- /bin/true 2>>"$T/pl.stderr" &
  ssa=\$!
  for i in \$(seq 100); do [ -S "$T/pl.sock" ] && break; sleep 0.1; done
  $PY "$T/client.py" "$T/pl.sock" --send "SVCID1 $PLAIN_TOKEN\n" > /dev/null
  kill \$ssa; wait \$ssa 2>/dev/null || true
) || rc=\$?
for i in \$(seq 50); do [ "\$(grep -c '^--$' "$T/journal.txt" 2>/dev/null)" -ge 6 ] && break; sleep 0.1; done
kill %1 2>/dev/null || true
exit \$rc
EOF2
chmod 755 "$T/ns.sh"
unshare -m "$T/ns.sh" || fail "the namespace run failed"
[ -s "$T/journal.txt" ] || fail "no journal datagrams received"
[ "$(cat "$T/refused.out")" = "SVCID1 ERR expired" ] || fail "the refused client got '$(cat "$T/refused.out")'"

# Split the records; check one admitted and one refused.
admitted=$(awk 'BEGIN{RS="--\n"} /SVCID_EVENT=admitted/' "$T/journal.txt")
refused=$(awk 'BEGIN{RS="--\n"} /SVCID_EVENT=refused/' "$T/journal.txt")
notice=$(awk 'BEGIN{RS="--\n"} /cannot load trust/' "$T/journal.txt")
[ -n "$admitted" ] || fail "no admitted record in the journal: $(cat "$T/journal.txt")"
[ -n "$refused" ] || fail "no refused record in the journal"
for f in MESSAGE_ID=0a7c131c54514ce39c86130838f3ae84 PRIORITY=6 SYSLOG_IDENTIFIER=svcid-gate \
         SVCID_SUB=erin "SVCID_ISS=$ISS" SVCID_KID=k1 SVCID_UNIT=build-x.service SVCID_UID=4242; do
        grep -qxF "$f" <<<"$admitted" || fail "admitted record lacks $f: $admitted"
done
grep -qE '^SVCID_JTI=[A-Za-z0-9_-]{22}$' <<<"$admitted" || fail "admitted record lacks SVCID_JTI"
grep -qE '^SVCID_PEER=unix:pid=[0-9]+,uid=0,gid=0$' <<<"$admitted" || fail "admitted record lacks SVCID_PEER"
grep -qE '^SVCID_SERVICE_PID=[0-9]+$' <<<"$admitted" || fail "admitted record lacks SVCID_SERVICE_PID"
grep -qE '^MESSAGE=admitted sub="erin"' <<<"$admitted" || fail "admitted record lacks MESSAGE"
for f in MESSAGE_ID=8e733dde265643bf8264a04ff4bed1fc PRIORITY=4 SVCID_REASON=expired SVCID_SUB=erin \
         "SVCID_ISS=$ISS" SVCID_KID=k1; do
        grep -qxF "$f" <<<"$refused" || fail "refused record lacks $f: $refused"
done
grep -q '^SVCID_DETAIL=expired at' <<<"$refused" || fail "refused record lacks SVCID_DETAIL"
grep -qE '^SVCID_JTI=[A-Za-z0-9_-]{22}$' <<<"$refused" || fail "refused record lacks SVCID_JTI"
grep -qE '^SVCID_PEER=unix:pid=[0-9]+,uid=0,gid=0$' <<<"$refused" || fail "refused record lacks SVCID_PEER"
[ -n "$notice" ] || fail "no notice record for the trust that does not load: $(cat "$T/journal.txt")"
for f in MESSAGE_ID=3c0ec765f65b4713b9757b4273974bf6 PRIORITY=3 SYSLOG_IDENTIFIER=svcid-gate; do
        grep -qxF "$f" <<<"$notice" || fail "notice record lacks $f: $notice"
done
grep -qxF "MESSAGE=cannot execute \"$T/no-such?forged line\": No such file or directory, closing" \
        "$T/journal.txt" || fail "a notice quoting a command with a newline lost its MESSAGE: $(cat "$T/journal.txt")"
for tok in "$TOKEN" "$EXPIRED"; do
        if grep -qF "${tok##*.}" "$T/journal.txt"; then fail "a token signature reached the journal"; fi
done
if grep -q 'svcid-gate\[' "$LOG"; then fail "--log-target journal still wrote to stderr"; fi
grep -qx 'SVCID_SUB=frank' "$T/journal.txt" ||
        fail "the default target with stderr the journal stream: no record in the journal: $(cat "$T/js.stderr")"
if grep -q 'svcid-gate\[' "$T/js.stderr"; then fail "the default target with stderr the journal stream wrote to stderr"; fi
grep -q 'svcid-gate\[[0-9]*\]: admitted sub="gina"' "$T/pl.stderr" ||
        fail "the default target with stderr a file: no line there: $(cat "$T/pl.stderr")"
if grep -qx 'SVCID_SUB=gina' "$T/journal.txt"; then fail "the default target with stderr a file wrote to the journal"; fi
ok "journal records carry MESSAGE_ID, priority, SVCID_* fields, and no token; a notice its own MESSAGE_ID; the default target finds the journal stream, and keeps to a stderr that is not"

# --log-target journal with no journal listening: a warning, and the
# records on stderr.
cat > "$T/nojournal.sh" <<EOF2
#!/bin/bash
set -euo pipefail
mount --make-rprivate / 2>/dev/null || true
mount -t tmpfs tmpfs /run
systemd-socket-activate -l "$T/nj.sock" -a ${SSA_ENV[*]:-} "$GATE" -a "$AUD" --trust "$T/keys/k1.jwks" \
        --log-target journal -- /bin/true 2>>"$T/nj.log" &
ssa=\$!
for i in \$(seq 100); do [ -S "$T/nj.sock" ] && break; sleep 0.1; done
$PY "$T/client.py" "$T/nj.sock" --send "SVCID1 $TOKEN\n" > /dev/null
$PY "$T/client.py" "$T/nj.sock" --send "SVCID1 $EXPIRED\n" > /dev/null
kill \$ssa; wait \$ssa 2>/dev/null || true
EOF2
chmod 755 "$T/nojournal.sh"
unshare -m "$T/nojournal.sh" || fail "the namespace run failed"
[ "$(grep -c "warning: --log-target=journal: no journal at /run/systemd/journal/socket" "$T/nj.log")" = 2 ] ||
        fail "no warning per connection: $(cat "$T/nj.log")"
grep -q 'svcid-gate\[[0-9]*\]: admitted sub="erin"' "$T/nj.log" || fail "the admission was lost: $(cat "$T/nj.log")"
grep -q 'svcid-gate\[[0-9]*\]: refused reason=expired' "$T/nj.log" || fail "the refusal was lost: $(cat "$T/nj.log")"
ok "warned, and both records are on stderr"
echo "all gate audit checks passed"
