#!/bin/bash
# SPDX-License-Identifier: MIT
# svcid-agent's audit trail in the journal: each mint and each refusal is a
# native journal record with its MESSAGE_ID and SVCID_* fields (sub, aud,
# jti, uid, pid, unit, exp; reason), key events too, and never a token.
# --log-target=auto picks the journal when stderr is the journal stream
# ($JOURNAL_STREAM). Runs in a private mount namespace with its own /run,
# so the host's /run/systemd/journal is neither needed nor touched.
set -euo pipefail
. "$(dirname "$0")/t_agent_common.sh"

[ "$(id -u)" = 0 ] || skip "the journal check needs root for a private mount namespace"
command -v unshare >/dev/null || skip "unshare missing"

MID_MINT=b00aafc18aa54a79adf612821e411e38
MID_REFUSAL=b9fb12c29c0f4e6d8a9a48857f58a28e
MID_KEY=ca080c9cea3342f2a2363d3c432b1034

cat > "$T/agent.conf" <<'EOF2'
[agent]
issuer = svcid://journal.test
anonymous = deny
[account journal-acct]
user = 0
audiences = ok:*
EOF2

# In the namespace: a journal receiver, then the agent three times — with
# --log-target=journal, with auto and stderr being the "journal stream",
# and with auto and a $JOURNAL_STREAM that names it with a blank after —
# each minting once and refusing once.
cat > "$T/ns.sh" <<EOF2
#!/bin/bash
set -euo pipefail
mount --make-rprivate / 2>/dev/null || true
mount -t tmpfs tmpfs /run
run_agent() {
        local sock=\$1; shift
        "$AGENT" --config "$T/agent.conf" --state-dir "\${STATE_DIR:-$T/state}" --socket "\$sock" "\$@" &
        local pid=\$!
        for i in \$(seq 300); do curl -sf --unix-socket "\$sock" http://localhost/v1/health >/dev/null && break; sleep 0.1; done
        curl -s --unix-socket "\$sock" "http://localhost/v1/token?aud=ok:one" > "\$sock.minted"
        curl -s --unix-socket "\$sock" "http://localhost/v1/token?aud=denied" > "\$sock.refused"
        kill \$pid
        wait \$pid
}
# No journal yet: --log-target=journal must not drop the records.
STATE_DIR=$T/state0 run_agent "$T/j0.sock" --log-target=journal 2>"$T/j0.stderr"
mkdir -p /run/systemd/journal
"$PY" "$SVCID_SRC/tests/journald.py" /run/systemd/journal/socket "$T/journal.txt" &
for i in \$(seq 100); do [ -e "$T/journal.txt.ready" ] && break; sleep 0.1; done
[ -e "$T/journal.txt.ready" ] || { echo "receiver did not start"; exit 1; }
run_agent "$T/j1.sock" --log-target=journal 2>"$T/j1.stderr"
: > "$T/j2.stderr"
JOURNAL_STREAM=\$(stat -c '%d:%i' "$T/j2.stderr") run_agent "$T/j2.sock" 2>>"$T/j2.stderr"
: > "$T/j3.stderr"
JOURNAL_STREAM="\$(stat -c '%d:%i' "$T/j3.stderr") " run_agent "$T/j3.sock" 2>>"$T/j3.stderr"
for i in \$(seq 50); do [ "\$(grep -c "MESSAGE_ID=$MID_MINT" "$T/journal.txt" 2>/dev/null)" -ge 2 ] && break; sleep 0.1; done
kill %1 2>/dev/null || true
EOF2
chmod 755 "$T/ns.sh"
check "journal records from --log-target=journal and from auto with stderr on the journal stream"
unshare -m "$T/ns.sh" || fail "the namespace run failed"
[ -s "$T/journal.txt" ] || fail "no journal datagrams received"
for n in 1 2; do
        jq -e .token "$T/j$n.sock.minted" >/dev/null || fail "run $n: no token: $(cat "$T/j$n.sock.minted")"
        [ "$(jq -r .error "$T/j$n.sock.refused")" = forbidden ] || fail "run $n: not refused"
        if grep -q "mint\|refused" "$T/j$n.stderr"; then fail "run $n: audit lines went to stderr too"; fi
done
[ "$(grep -c "^MESSAGE_ID=$MID_MINT$" "$T/journal.txt")" = 2 ] || fail "expected 2 mint records: $(cat "$T/journal.txt")"
[ "$(grep -c "^MESSAGE_ID=$MID_REFUSAL$" "$T/journal.txt")" = 2 ] || fail "expected 2 refusal records"
grep -q "^MESSAGE_ID=$MID_KEY$" "$T/journal.txt" || fail "no key record"
ok "records"

check "auto, with a JOURNAL_STREAM that is more than the stream's device:inode: the records on stderr"
grep -q "^svcid-agent: mint sub='journal-acct' aud='ok:one' " "$T/j3.stderr" || fail "no mint line: $(cat "$T/j3.stderr")"
grep -q "^svcid-agent: refused reason=forbidden aud='denied' " "$T/j3.stderr" || fail "no refusal line"
ok "not the journal stream"

check "--log-target=journal with no journal listening: a warning, and the records on stderr"
grep -q "^svcid-agent: warning: --log-target=journal: no journal at /run/systemd/journal/socket" "$T/j0.stderr" ||
        fail "no warning: $(cat "$T/j0.stderr")"
grep -q "^svcid-agent: mint sub='journal-acct' aud='ok:one' " "$T/j0.stderr" || fail "the mint is lost: $(cat "$T/j0.stderr")"
grep -q "^svcid-agent: refused reason=forbidden aud='denied' " "$T/j0.stderr" || fail "the refusal is lost"
ok "nothing lost"

check "a mint record has sub, aud, jti, kid, uid, gid, pid, exp, size, reuse; a refusal its reason, uid, gid, pid, unit; a key event kid, alg and event; no token anywhere"
mint=$(awk -v m="MESSAGE_ID=$MID_MINT" 'BEGIN{RS="--\n"} index($0, m) {print; exit}' "$T/journal.txt")
refusal=$(awk -v m="MESSAGE_ID=$MID_REFUSAL" 'BEGIN{RS="--\n"} index($0, m) {print; exit}' "$T/journal.txt")
key=$(awk -v m="MESSAGE_ID=$MID_KEY" 'BEGIN{RS="--\n"} index($0, m) {print; exit}' "$T/journal.txt")
serving=$(awk 'BEGIN{RS="--\n"} /\nMESSAGE=serving on / || /^MESSAGE=serving on / {print; exit}' "$T/journal.txt")
TOK=$(jq -r .token "$T/j1.sock.minted")
C=$(claims "$TOK")
for f in SVCID_SUB=journal-acct SVCID_AUD=ok:one "SVCID_JTI=$(jq -r .jti <<<"$C")" SVCID_UID=0 SVCID_GID=0 \
         "SVCID_EXP=$(jq -r .exp <<<"$C")" SYSLOG_IDENTIFIER=svcid-agent PRIORITY=6 \
         "SVCID_KID=$(jq -r '.keys[0].kid' "$T/state/jwks.json")" "SVCID_TOKEN_BYTES=${#TOK}" SVCID_REUSED=0; do
        grep -qxF -e "$f" <<<"$mint" || fail "mint record lacks $f: $mint"
done
grep -qE '^SVCID_PID=[0-9]+$' <<<"$mint" || fail "mint record lacks SVCID_PID"
grep -q '^SVCID_UNIT=' <<<"$mint" || fail "mint record lacks SVCID_UNIT"
for f in SVCID_REASON=forbidden SVCID_AUD=denied SVCID_UID=0 SVCID_GID=0 PRIORITY=5; do
        grep -qxF -e "$f" <<<"$refusal" || fail "refusal record lacks $f: $refusal"
done
grep -qE '^SVCID_PID=[0-9]+$' <<<"$refusal" || fail "refusal record lacks SVCID_PID: $refusal"
grep -q '^SVCID_UNIT=' <<<"$refusal" || fail "refusal record lacks SVCID_UNIT: $refusal"
for f in "SVCID_KID=$(jq -r '.keys[0].kid' "$T/state/jwks.json")" SVCID_ALG=ES256 "SVCID_KEY_EVENT=created, signing now" \
         PRIORITY=5 SYSLOG_IDENTIFIER=svcid-agent; do
        grep -qxF -e "$f" <<<"$key" || fail "key record lacks $f: $key"
done
# the agent's other messages: their priority, and who said them
for f in PRIORITY=6 SYSLOG_IDENTIFIER=svcid-agent; do
        grep -qxF -e "$f" <<<"$serving" || fail "the 'serving on' record lacks $f: $serving"
done
for n in 1 2; do
        TOK=$(jq -r .token "$T/j$n.sock.minted")
        if grep -qF -e "${TOK##*.}" "$T/journal.txt"; then fail "a token signature reached the journal"; fi
        if grep -qF -e "${TOK%%.*}.$(cut -d. -f2 <<<"$TOK")" "$T/journal.txt"; then fail "a token reached the journal"; fi
done
if grep -q "PRIVATE KEY" "$T/journal.txt"; then fail "key material in the journal"; fi
ok "fields"
echo "all agent journal checks passed"
