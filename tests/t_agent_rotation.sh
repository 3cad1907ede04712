#!/bin/bash
# SPDX-License-Identifier: MIT
# Key rotation against a real agent with a short key_lifetime: the next key
# is published before it signs, tokens keep verifying until they expire,
# a retired key leaves the JWKS, SIGUSR2 rotates at once; then crash
# safety: kill -9 at random moments during rotations, many times, and each
# time the state and JWKS parse, the active key is not lost, and tokens
# keep verifying. Polling is bounded; nothing asserts how long things take.
set -euo pipefail
. "$(dirname "$0")/t_agent_common.sh"

CRASHES=${SVCID_CRASHES:-50}

kid_of() {
        local h
        h=$(cut -d. -f1 <<<"$1" | tr '_-' '/+')
        while [ $(( ${#h} % 4 )) -ne 0 ]; do h="$h="; done
        base64 -d <<<"$h" | jq -r .kid
}

# The next key is published half a key_lifetime (6 s) before it signs:
# more than one pass of the loop below takes on a loaded machine, which
# fetches the JWKS and then mints, and fails if a key published and began
# to sign in between. A pass checks one token a key, the one that expires
# last, so that it stays short however many tokens have been minted.
cat > "$T/agent.conf" <<'EOF2'
[agent]
issuer = svcid://rotation.test
key_lifetime = 12
max_ttl = 4
default_ttl = 4
EOF2
start_agent r "$T/agent.conf"

check "every token's key is in a JWKS fetched before it was minted, and stays there until the token expires"
declare -A FIRST_SIGNED=() SEEN_PUBLISHED=() LAST_TOKEN=()
MINTED=0
PREPUBLISHED=0
RETIRED_GONE=0
FIRST_KID=
start=$(date +%s)
while :; do
        now=$(date +%s)
        [ $((now - start)) -lt 180 ] || fail "no complete rotation seen within 180 s"
        http /v1/jwks
        [ "$STATUS" = 200 ] || fail "jwks: $STATUS"
        after=$(date +%s)
        echo "$BODY" > "$T/snap.json"
        KIDS=$(jq -r '.keys[].kid' "$T/snap.json")
        # the invariant: every unexpired token's key is published
        for t in "${LAST_TOKEN[@]}"; do
                exp=$(claims "$t" | jq -r .exp)
                [ "$exp" -gt "$after" ] || continue
                grep -qxF -e "$(kid_of "$t")" <<<"$KIDS" || fail "key of an unexpired token (exp $exp, now $after) left the JWKS"
                "$CLI" verify -a r --trust "$T/snap.json" --leeway 0 --now "$after" "$t" >/dev/null ||
                        fail "an unexpired token no longer verifies against the JWKS"
        done
        for k in $KIDS; do
                [ -n "${SEEN_PUBLISHED[$k]:-}" ] || SEEN_PUBLISHED[$k]=1
                # a key we saw published and that has not signed yet
                [ -z "${FIRST_SIGNED[$k]:-}" ] && [ -n "$FIRST_KID" ] && [ "$k" != "$FIRST_KID" ] && PREPUBLISHED=1
        done
        get_token r
        k=$(kid_of "$TOK")
        grep -qxF -e "$k" <<<"$KIDS" || fail "kid $k signed before it was in the JWKS"
        [ -n "$FIRST_KID" ] || FIRST_KID=$k
        FIRST_SIGNED[$k]=1
        LAST_TOKEN[$k]=$TOK
        MINTED=$((MINTED + 1))
        if [ ${#FIRST_SIGNED[@]} -ge 2 ] && ! grep -qxF -e "$FIRST_KID" <<<"$KIDS"; then
                RETIRED_GONE=1
                break
        fi
        sleep 0.2
done
[ "$PREPUBLISHED" = 1 ] || fail "never saw the next key published before it signed"
[ "$RETIRED_GONE" = 1 ] || fail "the first key never left the JWKS"
grep -q "key activated kid=" "$AGENT_LOG" || fail "no hand-over was logged as 'activated': $(grep 'key ' "$AGENT_LOG")"
ok "${#FIRST_SIGNED[@]} keys signed, $MINTED tokens minted; the next key was published first; the retired key left"

check "the state on disk matches: every key in state.json has its 0600 file, jwks.json parses"
stop_agent      # not in the middle of an update
jq -e '.version == 1 and (.keys | length >= 1)' "$STATE/keys/state.json" >/dev/null || fail "state.json"
for k in $(jq -r '.keys[].kid' "$STATE/keys/state.json"); do
        [ "$(stat -c %a "$STATE/keys/$k.pem")" = 600 ] || fail "key file $k.pem"
done
[ "$(ls "$STATE"/keys/*.pem | wc -l)" = "$(jq '.keys | length' "$STATE/keys/state.json")" ] || fail "stray key files"
[ -z "$(ls "$STATE"/keys/*.new 2>/dev/null)" ] || fail "key files left under their new name"
start_agent r "$T/agent.conf"
ok "state"

check "--rotate (SIGUSR2) rotates at once: a new key signs when it returns, the old one stays published"
get_token r
OLD=$(kid_of "$TOK")
OLDTOK=$TOK
"$AGENT" --rotate "$AGENT_PID" --socket "$SOCK" >"$T/rot.out" 2>&1 || fail "--rotate: $(cat "$T/rot.out")"
[ ! -s "$T/rot.out" ] || fail "--rotate that worked said something: $(cat "$T/rot.out")"
get_token r
NEW=$(kid_of "$TOK")
[ "$NEW" != "$OLD" ] || fail "--rotate returned before the new key signed"
http /v1/jwks
echo "$BODY" > "$T/snap.json"
if [ "$(claims "$OLDTOK" | jq -r .exp)" -gt "$(date +%s)" ]; then
        "$CLI" verify -a r --trust "$T/snap.json" "$OLDTOK" >/dev/null || fail "token of the rotated-out key stopped verifying"
fi
grep -q "forced key rotation" "$AGENT_LOG" || fail "rotation not logged"
ok "forced rotation"
stop_agent

check "a forced rotation whose jwks.json cannot be written: the old key signs on, the retry rotates"
# The state.json of a forced rotation is written, then jwks.json fails (a
# directory where its temp file goes): the old key goes on signing, with
# state.json and jwks.json in agreement at every moment a restart could
# come; and the retry is a forced rotation again, not a normal update
# that drops it (the operator may have rotated because a key is in doubt).
printf '[agent]\nissuer = svcid://rotation.test\n' > "$T/w.conf"
start_agent w "$T/w.conf"
get_token w
KEEP=$(kid_of "$TOK")
mkdir "$STATE/.jwks.json.tmp"
rc=0; "$AGENT" --rotate "$AGENT_PID" --socket "$SOCK" 2>"$T/rot.err" || rc=$?
[ "$rc" = 1 ] && grep -qxF "svcid-agent: rotate: in $STATE: writing jwks.json: removing the leftover .jwks.json.tmp: Is a directory" "$T/rot.err" ||
        fail "--rotate that failed: exit $rc, $(cat "$T/rot.err")"
grep -q "key update failed; retrying the forced rotation in 10 s: .*writing jwks.json: removing the leftover \.jwks\.json\.tmp: Is a directory" "$AGENT_LOG" ||
        fail "the failed write was not logged: $(cat "$AGENT_LOG")"
get_token w
[ "$(kid_of "$TOK")" = "$KEEP" ] || fail "the failed rotation changed the signing key"
# the old key signs on: health is ok, and warns of the stuck rotation
http /v1/health
[ "$STATUS" = 200 ] && jq -e --arg k "$KEEP" --arg w "key update failed, retrying every 10 s: in $STATE: writing jwks.json: removing the leftover .jwks.json.tmp: " \
        '.status == "ok" and .kid == $k and (has("message") | not) and (.warning | startswith($w))' <<<"$BODY" >/dev/null ||
        fail "health while the rotation fails: $STATUS $BODY"
rmdir "$STATE/.jwks.json.tmp"
active() { jq -r --argjson now "$(date +%s)" '[.keys[] | select(.not_before <= $now)] | max_by(.not_before) | .kid' "$STATE/keys/state.json"; }
agree() { [ "$(jq -c '[.keys[].kid] | sort' "$STATE/keys/state.json")" = "$(jq -c '[.keys[].kid] | sort' "$STATE/jwks.json")" ]; }
for _ in $(seq 1 300); do     # the agent retries within seconds
        [ "$(active)" != "$KEEP" ] && agree && break
        sleep 0.1
done
NEW=$(active)
[ "$NEW" != "$KEEP" ] || fail "the forced rotation was not retried: $KEEP still signs"
agree || fail "state.json and jwks.json name other keys"
jq -r '.keys[].kid' "$STATE/jwks.json" | grep -qxF -e "$KEEP" || fail "the rotated-out key left the JWKS at once"
get_token w
[ "$(kid_of "$TOK")" = "$NEW" ] || fail "state.json names $NEW as signing, the agent signs with $(kid_of "$TOK")"
for _ in $(seq 1 20); do     # the files land just before the warning goes
        http /v1/health
        [ "$STATUS" = 200 ] && jq -e '.status == "ok" and (has("warning") | not)' <<<"$BODY" >/dev/null && break
        sleep 0.1
done
[ "$STATUS" = 200 ] && jq -e '.status == "ok" and (has("warning") | not)' <<<"$BODY" >/dev/null ||
        fail "health still warns after the retry succeeded: $STATUS $BODY"
stop_agent
start_agent w "$T/w.conf"
get_token w
[ "$(kid_of "$TOK")" = "$NEW" ] || fail "after a restart another key signs"
stop_agent
ok "the retry rotated; state.json and jwks.json agreed throughout"

check "while token requests get 503 because a key update cannot be written, /v1/health says so too"
# A forced rotation writes state.json, which retires the old key at once,
# then fails on jwks.json: max_ttl (2 s) later the old key may sign no
# more, until a retry (every 10 s) writes a state again.
printf '[agent]\nissuer = svcid://rotation.test\nmax_ttl = 2\ndefault_ttl = 2\n' > "$T/h.conf"
start_agent h "$T/h.conf"
http /v1/health
[ "$STATUS" = 200 ] && jq -e '.status == "ok" and (has("message") | not)' <<<"$BODY" >/dev/null ||
        fail "health at start: $STATUS $BODY"
mkdir "$STATE/.jwks.json.tmp"
kill -USR2 "$AGENT_PID"
seen=
for _ in $(seq 1 300); do
        http "/v1/token?aud=h"
        if [ "$STATUS" = 503 ]; then
                http /v1/health
                # a retry may land between the two requests: then look again
                [ "$STATUS" = 503 ] && seen=1 && break
        fi
        sleep 0.1
done
[ -n "$seen" ] || fail "health never answered 503 while token requests did: $(tail -3 "$AGENT_LOG")"
jq -e '.status == "unavailable" and (.message | test("cannot finish writing its key files")) and (.kid | length > 0)
        and (.warning | test("writing jwks.json"))' <<<"$BODY" >/dev/null || fail "health: $BODY"
rmdir "$STATE/.jwks.json.tmp"
healthy() { [ "$STATUS" = 200 ] && jq -e '.status == "ok" and (has("message") or has("warning") | not)' <<<"$BODY" >/dev/null; }
for _ in $(seq 1 300); do     # the new keys serve a moment before the warning goes
        http /v1/health
        healthy && break
        sleep 0.1
done
healthy || fail "health once the write succeeded: $STATUS $BODY"
stop_agent
ok "health answered 503 unavailable while tokens were refused, and ok again after"

check "STATUS= names no signing key while token requests get 503"
# As above, and then state.json cannot be written either: the retries
# (every 10 s) land no state, and the one on disk retired the old key
# max_ttl (2 s) after the first try.
notify_listen
NOTIFY_SOCKET=$T/notify.sock start_agent st "$T/h.conf"
KEEP=$(jq -r '.keys[0].kid' "$STATE/jwks.json")
mkdir "$STATE/.jwks.json.tmp"
kill -USR2 "$AGENT_PID"
for _ in $(seq 1 100); do grep -q "key update failed" "$AGENT_LOG" && break; sleep 0.1; done
grep -q "key update failed.*writing jwks.json" "$AGENT_LOG" || fail "the failed write was not logged: $(cat "$AGENT_LOG")"
mkdir "$STATE/keys/.state.json.tmp"
for _ in $(seq 1 300); do grep -q "writing keys/state.json" "$AGENT_LOG" && break; sleep 0.1; done
grep -qF "writing keys/state.json: removing the leftover .state.json.tmp: Is a directory" "$AGENT_LOG" ||
        fail "the retry did not fail: $(tail -3 "$AGENT_LOG")"
expect_status 503 unavailable "/v1/token?aud=h"
for _ in $(seq 1 50); do grep -q "^STATUS=.*writing keys/state.json" "$T/notify.log" && break; sleep 0.1; done
grep '^STATUS=.*writing keys/state.json' "$T/notify.log" | tail -1 |
        grep -q "^STATUS=no key signs now, 1 key(s) published; key update failed, retrying every 10 s: in $STATE: writing keys/state.json" ||
        fail "STATUS= while no key may sign: $(grep '^STATUS=' "$T/notify.log" | tail -1)"
rmdir "$STATE/.jwks.json.tmp" "$STATE/keys/.state.json.tmp"
for _ in $(seq 1 300); do grep '^STATUS=' "$T/notify.log" | tail -1 | grep -q '^STATUS=signing with kid [^;]*$' && break; sleep 0.1; done
grep '^STATUS=' "$T/notify.log" | tail -1 | grep -q '^STATUS=signing with kid [^;]*$' ||
        fail "STATUS= once the retry succeeded: $(grep '^STATUS=' "$T/notify.log" | tail -1)"
grep '^STATUS=' "$T/notify.log" | tail -1 | grep -qvF -e "$KEEP" || fail "the forced rotation was not retried"
stop_agent
ok "no key named while tokens were refused, the new one once the retry succeeded"

check "a raised max_ttl that cannot be written yet does not outlive the key"
# state.json cannot be written (a directory where its temp file goes)
# when a reload raises max_ttl: until the raise is on disk, the key's
# recorded max_ttl is what keeps it published, so no token may live
# longer; once written, tokens get the new ttl.
printf '[agent]\nissuer = svcid://rotation.test\nmax_ttl = 4\ndefault_ttl = 4\n' > "$T/m.conf"
start_agent m "$T/m.conf"
get_token m
mkdir "$STATE/keys/.state.json.tmp"
printf '[agent]\nissuer = svcid://rotation.test\nmax_ttl = 600\ndefault_ttl = 600\n' > "$T/m.conf"
# returns after the key update the reload starts, which fails: so does
# the reload, since its max_ttl is not yet in force
rc=0; "$AGENT" --reload "$AGENT_PID" --socket "$SOCK" 2>"$T/rl.err" || rc=$?
[ "$rc" = 1 ] && grep -qxF "svcid-agent: reload: the policy is loaded, but the key update failed (retrying every 10 s): in $STATE: writing keys/state.json: removing the leftover .state.json.tmp: Is a directory" "$T/rl.err" ||
        fail "--reload whose key update fails: exit $rc, $(cat "$T/rl.err")"
grep -q "key update failed.*state.json" "$AGENT_LOG" || fail "the failed state write was not logged: $(cat "$AGENT_LOG")"
get_token m "&ttl=600"
life=$(claims "$TOK" | jq '.exp - .iat')
[ "$life" -le 4 ] || fail "a token lives $life s while its key's written max_ttl is 4"
rmdir "$STATE/keys/.state.json.tmp"
for _ in $(seq 1 300); do     # the agent retries within seconds
        get_token m "&ttl=600"
        life=$(claims "$TOK" | jq '.exp - .iat')
        [ "$life" = 600 ] && break
        sleep 0.1
done
[ "$life" = 600 ] || fail "the raise never took effect: tokens live $life s"
jq -e --arg k "$(kid_of "$TOK")" '.keys[] | select(.kid == $k) | .max_ttl == 600' "$STATE/keys/state.json" >/dev/null ||
        fail "state.json does not record max_ttl 600 for the key that signs 600 s tokens"
stop_agent
ok "4 s tokens until the raise was written, 600 s after"

check "key files, state.json and jwks.json removed while the agent runs are back after a reload"
# The keys are in the agent's memory: its next update writes each again,
# so that local verifiers find jwks.json and a restart finds its state.
start_agent m "$T/m.conf"
get_token m
K=$(kid_of "$TOK")
rm "$STATE/keys/$K.pem" "$STATE/keys/state.json" "$STATE/jwks.json"
# returns after the key update the reload starts
"$AGENT" --reload "$AGENT_PID" --socket "$SOCK" || fail "--reload: $(tail -n 3 "$AGENT_LOG")"
for f in "keys/$K.pem" keys/state.json jwks.json; do
        [ -s "$STATE/$f" ] || fail "$f was not written again after the reload: $(tail -3 "$AGENT_LOG")"
        grep -qE "^svcid-agent: warning: $f: removed (or changed )?while the agent runs: written again" "$AGENT_LOG" ||
                fail "no warning for $f"
done
[ "$(stat -c %a "$STATE/keys/$K.pem")" = 600 ] || fail "the key file written again is not 0600"
"$CLI" verify -a m --trust "$STATE/jwks.json" "$TOK" >/dev/null || fail "the token does not verify against the JWKS written again"
stop_agent
start_agent m "$T/m.conf"
get_token m
[ "$(kid_of "$TOK")" = "$K" ] || fail "after a restart another key signs"
stop_agent
ok "written again; the restart signs with $K"

check "a lost state.json stops start-up while jwks.json still publishes keys"
mv "$STATE/keys/state.json" "$T/state.saved"
if "$AGENT" --config "$T/m.conf" --state-dir "$STATE" --socket "$T/x.sock" --log-target=stderr 2>"$T/err"; then
        fail "agent started afresh without its state"
fi
grep -q "keys/state.json is missing, but .*/jwks.json is there" "$T/err" || fail "message: $(cat "$T/err")"
[ "$(ls "$STATE"/keys/*.pem | wc -l)" -ge 1 ] || fail "key files were removed"
mv "$T/state.saved" "$STATE/keys/state.json"
start_agent m "$T/m.conf"
get_token m
stop_agent
ok "refused, with what to do; starts again once state.json is back"

check "a state dir restored from before a rotation keeps the newer key published, and signs with neither old key"
# m.conf has max_ttl 600: tokens of both keys outlive this check. The
# whole state directory is backed up, and restored as cp -a or tar x do:
# state.json and jwks.json of then, the key file made since left in place.
start_agent m "$T/m.conf"
get_token m
K1=$(kid_of "$TOK")
rm -rf "$T/state.backup"
cp -a "$STATE" "$T/state.backup"
kill -USR2 "$AGENT_PID"
for _ in $(seq 1 100); do
        get_token m
        [ "$(kid_of "$TOK")" != "$K1" ] && break
        sleep 0.1
done
K2=$(kid_of "$TOK")
[ "$K2" != "$K1" ] || fail "SIGUSR2 did not rotate"
TOK2=$TOK
stop_agent
cp -a "$T/state.backup/." "$STATE/"
if jq -r '.keys[].kid' "$STATE/jwks.json" | grep -qxF -e "$K2"; then fail "the restored jwks.json publishes $K2"; fi
start_agent m "$T/m.conf"
grep -qF "keys/$K2.pem: a key that keys/state.json neither names nor dropped (was state.json restored from a backup?)" "$AGENT_LOG" ||
        fail "no warning for the key the restored state does not name: $(cat "$AGENT_LOG")"
[ -s "$STATE/keys/$K2.pem" ] || fail "the newer key's file was removed"
jq -e --arg k "$K2" '.keys[] | select(.kid == $k)' "$STATE/keys/state.json" >/dev/null ||
        fail "state.json does not name the kept key"
"$CLI" verify -a m --trust "$STATE/jwks.json" "$TOK2" >/dev/null 2>"$T/err" ||
        fail "a token of the newer key no longer verifies: $(cat "$T/err")"
get_token m
K3=$(kid_of "$TOK")
[ "$K3" != "$K1" ] && [ "$K3" != "$K2" ] ||
        fail "after the restore the agent signs with $K3, an older key (K1 $K1, K2 $K2), not a fresh one"
stop_agent
ok "kept $K2 published; signing with a fresh key"

check "crash safety: kill -9 at random moments during rotations, $CRASHES times"
cat > "$T/crash.conf" <<'EOF2'
[agent]
issuer = svcid://crash.test
key_lifetime = 2
max_ttl = 3
default_ttl = 3
EOF2
for n in $(seq 1 "$CRASHES"); do
        start_agent c "$T/crash.conf"
        get_token c
        # kill with writes in flight: a forced rotation, then the kill a
        # random moment later (sometimes at once)
        sleep "0.$((RANDOM % 6))"
        kill -USR2 "$AGENT_PID"
        [ $((RANDOM % 3)) = 0 ] || sleep "0.0$((RANDOM % 10))"
        kill -9 "$AGENT_PID"
        wait "$AGENT_PID" 2>/dev/null || true
        now=$(date +%s)
        jq -e '.version == 1 and (.keys | length >= 1)' "$STATE/keys/state.json" >/dev/null ||
                fail "crash $n: state.json does not parse: $(cat "$STATE/keys/state.json")"
        jq -e '.iss == "svcid://crash.test" and (.keys | length >= 1)' "$STATE/jwks.json" >/dev/null ||
                fail "crash $n: jwks.json does not parse"
        # a key the state names is in KID.pem, or still in KID.new if the
        # kill came before the update that made it was done
        for k in $(jq -r '.keys[].kid' "$STATE/keys/state.json"); do
                [ -s "$STATE/keys/$k.pem" ] || [ -s "$STATE/keys/$k.new" ] ||
                        fail "crash $n: state names $k but its key file is missing"
        done
        exp=$(claims "$TOK" | jq -r .exp)
        if [ "$exp" -gt "$now" ]; then
                jq -r '.keys[].kid' "$STATE/keys/state.json" | grep -qxF -e "$(kid_of "$TOK")" ||
                        fail "crash $n: the key of an unexpired token was lost"
        fi
        # the restarted agent serves, and the token still verifies
        start_agent c "$T/crash.conf"
        if [ "$exp" -gt "$(date +%s)" ]; then
                "$CLI" verify -a c --trust "$STATE/jwks.json" --leeway 0 "$TOK" >/dev/null 2>"$T/err" ||
                        [ "$exp" -le "$(date +%s)" ] || fail "crash $n: token from before the crash no longer verifies: $(cat "$T/err")"
        fi
        get_token c
        "$CLI" verify -a c --trust "$STATE/jwks.json" "$TOK" >/dev/null || fail "crash $n: fresh token does not verify"
        kill -9 "$AGENT_PID"
        wait "$AGENT_PID" 2>/dev/null || true
done
ok "$CRASHES crashes survived"

check "leftovers of an interrupted write are removed at start: temporary files, a new key file no state names"
echo junk > "$STATE/keys/.state.json.tmp"
echo junk > "$STATE/keys/.AAAA.new.tmp"
echo junk > "$STATE/.jwks.json.tmp"
echo junk > "$STATE/keys/AAAAorphan.new"
chmod 600 "$STATE"/keys/.*.tmp "$STATE/keys/AAAAorphan.new"
start_agent c "$T/agent.conf"
for f in "$STATE/keys/.state.json.tmp" "$STATE/keys/.AAAA.new.tmp" "$STATE/.jwks.json.tmp" "$STATE/keys/AAAAorphan.new"; do
        [ -e "$f" ] && fail "$f left in place"
done
stop_agent
ok "leftovers"

check "a state naming a key whose file is gone or corrupt stops start-up (fail closed)"
K=$(jq -r '.keys[0].kid' "$STATE/keys/state.json")
cp "$STATE/keys/$K.pem" "$T/saved.pem"
echo "-----BEGIN PRIVATE KEY-----" > "$STATE/keys/$K.pem"
if "$AGENT" --config "$T/agent.conf" --state-dir "$STATE" --socket "$T/x.sock" --log-target=stderr 2>"$T/err"; then
        fail "agent started with a corrupt key"
fi
grep -qF -e "$K.pem" "$T/err" || fail "message does not name the key file: $(cat "$T/err")"
grep -qF "Restore $STATE/keys from a backup; to start without what cannot be read, see KEYS AND ROTATION" "$T/err" ||
        fail "message does not say what to do: $(cat "$T/err")"
cp "$T/saved.pem" "$STATE/keys/$K.pem"
ok "fail closed"

check "without a backup, the remedy svcid-agent(8) gives for a corrupt key file starts the agent"
cp -p "$STATE/keys/state.json" "$T/state.saved"
echo "-----BEGIN PRIVATE KEY-----" > "$STATE/keys/$K.pem"
jq --arg k "$K" '.keys |= map(select(.kid != $k))' "$T/state.saved" > "$STATE/keys/state.json"
rm "$STATE/keys/$K.pem"
start_agent c "$T/agent.conf"
get_token c
[ "$(kid_of "$TOK")" != "$K" ] || fail "the removed key signs"
if jq -r '.keys[].kid' "$STATE/jwks.json" | grep -qxF -e "$K"; then fail "the removed key is still published"; fi
stop_agent
ok "started without $K"
echo "all rotation checks passed"
