#!/bin/bash
# SPDX-License-Identifier: MIT
# agent.conf policy against a real agent: account matching (user name,
# uid, unit glob), audience globs, ttl caps, claim.*, anonymous = deny,
# config errors with file:line, and SIGHUP reloads (a bad file keeps the
# old policy). As root also: two real uids (setpriv) and a real cgroup
# named like a systemd unit.
set -euo pipefail
. "$(dirname "$0")/t_agent_common.sh"

ME=$(id -un)

# hup WORD: reload the agent with svcid-agent --reload, which returns once
# the agent is done (keys updated too): exit 0 for "reloaded", else 1
# ("keeping the old policy", "key update failed"); one more WORD is then
# in its log.
hup() {
        local n rc=0 want=1
        n=$(grep -c "$1" "$AGENT_LOG" || true)
        [ "$1" = "reloaded" ] && want=0
        "$AGENT" --reload "$AGENT_PID" --socket "$SOCK" 2>"$T/hup.err" || rc=$?
        [ "$rc" = "$want" ] || fail "--reload ('$1'): exit $rc: $(cat "$T/hup.err"; tail -n 3 "$AGENT_LOG")"
        [ "$(grep -c "$1" "$AGENT_LOG" || true)" -gt "$n" ] ||
                fail "no '$1' in the log when --reload returned: $(tail -n 3 "$AGENT_LOG")"
}

# reload CONF-CONTENT-FILE WORD: install it, then hup WORD ("reloaded" or
# "keeping the old policy").
reload() {
        cp "$1" "$T/agent.conf"
        hup "$2"
}

cat > "$T/a.conf" <<EOF2
# accounts first match wins; the second never matches this caller
[agent] ; what this host's tokens say
issuer = svcid://policy.test        ; a fixed issuer
default_ttl = 120
max_ttl = 600
anonymous = deny

[account builder]
user = $ME
audiences = ssh:web*, api.example.com ; two globs
ttl = 60
claim.roles = deploy, restart
claim.stage = build

[account never]
user = $ME
claim.stage = never
EOF2
cp "$T/a.conf" "$T/agent.conf"
start_agent p "$T/agent.conf"

check "the matching account names the token, with its claims and ttl cap"
get_token ssh:web01
C=$(claims "$TOK")
[ "$(jq -r .sub <<<"$C")" = builder ] || fail "sub: $C"
[ "$(jq -r .iss <<<"$C")" = svcid://policy.test ] || fail "iss: $C"
[ "$(jq -c .roles <<<"$C")" = '["deploy","restart"]' ] || fail "list claim: $C"
[ "$(jq -r .stage <<<"$C")" = build ] || fail "string claim: $C"
[ "$(jq -r '.exp - .iat' <<<"$C")" = 60 ] || fail "account ttl cap: $C"
get_token api.example.com '&ttl=600'
[ "$(claims "$TOK" | jq -r '.exp - .iat')" = 60 ] || fail "ttl=600 not capped to 60"
get_token api.example.com '&ttl=30'
[ "$(claims "$TOK" | jq -r '.exp - .iat')" = 30 ] || fail "ttl=30 below the cap not honoured"
"$CLI" verify -a api.example.com --trust "$STATE/jwks.json" --require roles=deploy --require stage=build "$TOK" >/dev/null ||
        fail "svcid verify with required claims"
ok "account builder"

check "audiences outside the account's globs are refused with 403"
expect_status 403 forbidden "/v1/token?aud=ssh:db01"
expect_status 403 forbidden "/v1/token?aud=api.example.com.evil"
expect_status 403 forbidden "/v1/token?aud=xssh:web01"
expect_status 403 forbidden "/v1/token?aud=SSH:web01"
grep -q "refused reason=forbidden" "$AGENT_LOG" || fail "refusal not in the audit log"
ok "audience globs"

check "reload: anonymous callers allowed, no accounts"
cat > "$T/b.conf" <<EOF2
[agent]
issuer = svcid://policy.test
default_ttl = 100
EOF2
reload "$T/b.conf" reloaded
get_token anything
C=$(claims "$TOK")
[ "$(jq -r .sub <<<"$C")" = "$ME" ] || fail "anonymous sub: $C"
[ "$(jq -r '.exp - .iat' <<<"$C")" = 100 ] || fail "default_ttl after reload: $C"
[ "$(jq -r 'has("stage")' <<<"$C")" = false ] || fail "stale claims: $C"
ok "reloaded"

check "a max_ttl under 300 alone: tokens last max_ttl by default"
printf '[agent]\nissuer = svcid://policy.test\nmax_ttl = 90\ntoken_reuse = 0\n' > "$T/m.conf"
reload "$T/m.conf" reloaded
get_token anything
[ "$(claims "$TOK" | jq -r '.exp - .iat')" = 90 ] || fail "default ttl under max_ttl = 90: $(claims "$TOK")"
# one second over max_ttl is shortened to max_ttl too
get_token anything '&ttl=91'
[ "$(claims "$TOK" | jq -r '.exp - .iat')" = 90 ] || fail "ttl=91 not capped to max_ttl = 90: $(claims "$TOK")"
ok "default ttl lowered to max_ttl"

check "an account's name is its own sub: a user of that name it does not match gets no token"
# [account $ME] matches only a unit this caller is not in: the caller is
# anonymous, and its user name is the account's sub.
printf '[agent]\nissuer = svcid://policy.test\n[account %s]\nunit = never-*.service\n' "$ME" > "$T/own.conf"
reload "$T/own.conf" reloaded
expect_status 403 forbidden "/v1/token?aud=x"
REFUSED=$BODY
grep -q "refused reason=forbidden .*user $ME does not match account $ME, which owns that sub" "$AGENT_LOG" ||
        fail "the refusal is not logged with its cause"
reload "$T/b.conf" reloaded
get_token x
[ "$(claims "$TOK" | jq -r .sub)" = "$ME" ] || fail "without the account, the anonymous sub is not $ME"
ok "refused: $REFUSED"

check "state_dir from agent.conf survives reloads"
# With no --state-dir the agent keeps the config's state_dir; each reload
# frees the old config, and an unchanged file must not read as a change.
stop_agent
printf '[agent]\nissuer = svcid://policy.test\nstate_dir = %s\n' "$T/sd" > "$T/sd.conf"
"$AGENT" --config "$T/sd.conf" --socket "$T/sd.sock" --log-target=stderr 2>>"$T/sd.log" &
SD_PID=$!
BG_PIDS+=("$SD_PID")
wait_for_socket "$T/sd.sock" || fail "agent with state_dir in its config did not come up"
for i in 1 2 3; do
        "$AGENT" --reload "$SD_PID" --socket "$T/sd.sock" || fail "reload $i: $(cat "$T/sd.log")"
done
[ "$(grep -c reloaded "$T/sd.log")" = 3 ] || fail "three reloads: $(cat "$T/sd.log")"
grep -q "state_dir changed" "$T/sd.log" && fail "an unchanged state_dir read as changed: $(cat "$T/sd.log")"
[ -s "$T/sd/jwks.json" ] || fail "no jwks.json in the config's state_dir"
SVCID_AGENT_SOCKET=$T/sd.sock "$CLI" token -a x >/dev/null || fail "no token after three reloads"
stop_agent "$SD_PID" "$T/sd.log"
start_agent p "$T/agent.conf"
ok "state_dir kept"

check "token_reuse = 0 mints every time; a reload never hands out a token of the old policy"
get_token again
J1=$(claims "$TOK" | jq -r .jti)
reload "$T/b.conf" reloaded
get_token again
[ "$(claims "$TOK" | jq -r .jti)" != "$J1" ] || fail "a token from before the reload was handed out"
printf '[agent]\nissuer = svcid://policy.test\ndefault_ttl = 100\ntoken_reuse = 0\n' > "$T/b0.conf"
reload "$T/b0.conf" reloaded
get_token again
J1=$(claims "$TOK" | jq -r .jti)
get_token again
[ "$(claims "$TOK" | jq -r .jti)" != "$J1" ] || fail "token_reuse = 0 reused a token"
ok "reuse off"

check "a token is reused for at most a tenth of its own life: the account's ttl cap, not the default, sets the window"
# a tenth, not more: a 20-second token is not handed out again 3 seconds on
printf '[agent]\nissuer = svcid://policy.test\ndefault_ttl = 100\ntoken_reuse = 300\n[account short]\nuser = %s\nttl = 20\n' "$ME" > "$T/b20.conf"
reload "$T/b20.conf" reloaded
get_token again
J1=$(claims "$TOK" | jq -r .jti)
sleep 3.2
get_token again
[ "$(claims "$TOK" | jq -r .jti)" != "$J1" ] || fail "a 20-second token was handed out again 3 seconds later"
printf '[agent]\nissuer = svcid://policy.test\ndefault_ttl = 100\n[account short]\nuser = %s\nttl = 5\n' "$ME" > "$T/b5.conf"
reload "$T/b5.conf" reloaded
get_token again
C=$(claims "$TOK")
[ "$(jq -r '.exp - .iat' <<<"$C")" = 5 ] || fail "account ttl cap: $C"
J1=$(jq -r .jti <<<"$C")
sleep 1.2
get_token again
[ "$(claims "$TOK" | jq -r .jti)" != "$J1" ] || fail "a 5-second token was handed out again a second later"
reload "$T/b0.conf" reloaded
ok "reuse window follows the token's own ttl"

check "token_reuse = N: a token is handed out again for N seconds at most, however long it lives"
printf '[agent]\nissuer = svcid://policy.test\ndefault_ttl = 100\ntoken_reuse = 1\n' > "$T/b1.conf"
reload "$T/b1.conf" reloaded
get_token again
J1=$(claims "$TOK" | jq -r .jti)
sleep 2.2
get_token again
[ "$(claims "$TOK" | jq -r .jti)" != "$J1" ] || fail "token_reuse = 1 handed a token out again 2 seconds later"
reload "$T/b0.conf" reloaded
ok "reuse window follows token_reuse"

check "a token is handed out again only while the key that signed it signs: after SIGUSR2, a new token from the new key"
# SIGUSR2 is the operator's "this key is in doubt": within token_reuse of
# it, a caller must not get the cached token of the retired key.
header_kid() {
        local h
        h=$(cut -d. -f1 <<<"$1" | tr '_-' '/+')
        while [ $(( ${#h} % 4 )) -ne 0 ]; do h="$h="; done
        base64 -d <<<"$h" | jq -r .kid
}
printf '[agent]\nissuer = svcid://policy.test\ndefault_ttl = 3600\ntoken_reuse = 300\n' > "$T/b300.conf"
reload "$T/b300.conf" reloaded
get_token rotated
J1=$(claims "$TOK" | jq -r .jti)
K1=$(header_kid "$TOK")
get_token rotated
[ "$(claims "$TOK" | jq -r .jti)" = "$J1" ] || fail "token_reuse = 300: not handed out again before the rotation"
grep -q "mint .*aud='rotated' jti=$J1 kid=$K1 .* reused$" "$AGENT_LOG" || fail "the reuse before the rotation is not logged"
n=$(grep -c "key created, signing now" "$AGENT_LOG" || true)
kill -USR2 "$AGENT_PID"
for i in $(seq 1 200); do
        [ "$(grep -c "key created, signing now" "$AGENT_LOG" || true)" -gt "$n" ] && break
        sleep 0.05
done
K2=$(grep "key created, signing now" "$AGENT_LOG" | tail -n 1 | sed -n 's/.* kid=\([^ ]*\) .*/\1/p')
[ -n "$K2" ] || fail "SIGUSR2 made no new signing key: $(tail -n 3 "$AGENT_LOG")"
[ "$K2" != "$K1" ] || fail "the key SIGUSR2 made has the old kid $K1"
# the new key signs once /v1/health names it (it reads the same state)
for i in $(seq 1 200); do
        http /v1/health
        [ "$(jq -r .kid <<<"$BODY")" = "$K2" ] && break
        sleep 0.05
done
[ "$(jq -r .kid <<<"$BODY")" = "$K2" ] || fail "/v1/health does not name the new key $K2: $BODY"
get_token rotated
[ "$(claims "$TOK" | jq -r .jti)" != "$J1" ] || fail "the token of the key retired by SIGUSR2 ($K1) was handed out again"
[ "$(header_kid "$TOK")" = "$K2" ] || fail "the token after SIGUSR2 is signed by $(header_kid "$TOK"), not the new key $K2"
J2=$(claims "$TOK" | jq -r .jti)
grep -q "mint .*aud='rotated' jti=$J2 kid=$K2 .*[0-9]$" "$AGENT_LOG" || fail "the new token is not logged as minted by $K2"
"$CLI" verify -a rotated --trust "$STATE/jwks.json" "$TOK" >/dev/null || fail "the token of the new key does not verify"
reload "$T/b0.conf" reloaded
ok "reused under $K1; after SIGUSR2 a new token under $K2"

check "claims too long for any token are a config error"
# big_conf N: an account for this caller with N claims of 150 bytes.
big_conf() {
        printf '[agent]\nissuer = svcid://policy.test\n[account big]\nuser = %s\n' "$ME"
        for i in $(seq 1 "$1"); do printf 'claim.c%s = %s\n' "$i" "$(head -c 150 /dev/zero | tr '\0' v)"; done
}
big_conf 40 > "$T/big.conf"
reload "$T/big.conf" "keeping the old policy"
grep -q "$T/agent.conf:3: \\[account big\\]: its claims make every token over 8192 bytes (at least [0-9]*)" "$AGENT_LOG" ||
        fail "the account is not refused with file:line: $(tail -n 1 "$AGENT_LOG")"
big_conf 34 > "$T/big.conf"
reload "$T/big.conf" reloaded
get_token short
# svcid token writes a token longer than stdio's buffer while printing
# it: a write that fails there is said as any other, never as a token
# that does not decode.
[ ${#TOK} -gt 4096 ] || fail "test token is only ${#TOK} bytes"
for opt in "" --json; do
        rc=0
        timeout 30 "$CLI" token -a short $opt >/dev/full 2>"$T/err" || rc=$?
        [ $rc = 1 ] && [ "$(cat "$T/err")" = "svcid: token: cannot write to standard output: No space left on device" ] ||
                fail "svcid token${opt:+ $opt}, ${#TOK} bytes, to a full disk: exit $rc, $(cat "$T/err")"
done
reload "$T/b0.conf" reloaded
ok "40 claims of 150 bytes refused, 34 taken"

check "reload with a bad file keeps the old policy and logs file:line"
printf '[agent]\ndefault_ttl = 100\nanonymous = maybe\n' > "$T/bad.conf"
reload "$T/bad.conf" "keeping the old policy"
grep -q "$T/agent.conf:3: anonymous must be" "$AGENT_LOG" || fail "no file:line reason in the log"
get_token anything
[ "$(claims "$TOK" | jq -r .sub)" = "$ME" ] || fail "bad reload changed the policy"
ok "old policy kept"

check "anonymous = deny refuses callers no account matches"
printf '[agent]\nanonymous = deny\n[account other]\nuser = no-such-user-svcid\n' > "$T/c.conf"
reload "$T/c.conf" reloaded
expect_status 403 forbidden "/v1/token?aud=x"
set +e
"$CLI" token -a x 2>"$T/err"; rc=$?
set -e
[ $rc = 1 ] || fail "svcid token on a refusal must exit 1, got $rc"
grep -q forbidden "$T/err" || fail "svcid token does not show the reason: $(cat "$T/err")"
ok "deny"

check "account by uid"
LONG=$(head -c 150 /dev/zero | tr '\0' v)
printf '[agent]\nanonymous = deny\n[account by-uid]\nuser = %s\nclaim.a = %s\nclaim.b = %s\n' "$(id -u)" "$LONG" "$LONG" > "$T/d.conf"
reload "$T/d.conf" reloaded
get_token x
[ "$(claims "$TOK" | jq -r .sub)" = by-uid ] || fail "uid match"
# an account without ttl = caps nothing: the default ttl
[ "$(claims "$TOK" | jq -r '.exp - .iat')" = 300 ] || fail "an account without ttl: $(claims "$TOK")"
[ ${#TOK} -ge 512 ] || fail "test token is only ${#TOK} bytes"
grep -q "is ${#TOK} bytes, at or over the 512-byte budget" "$AGENT_LOG" || fail "no warning for a ${#TOK}-byte token"
# Any caller can ask for a long audience: one warning a minute at most,
# not one per mint.
for a in y z w; do get_token $a; done
[ "$(grep -c "token for 'by-uid' .* at or over the 512-byte budget" "$AGENT_LOG")" = 1 ] ||
        fail "a warning per long token: $(grep "512-byte budget" "$AGENT_LOG")"
ok "uid; a ${#TOK}-byte token is minted with a warning, and three more within the minute without"

check "algorithm change takes effect through a rotation"
printf '[agent]\nalgorithm = EdDSA\n' > "$T/e.conf"
reload "$T/e.conf" reloaded
kill -USR2 "$AGENT_PID"
for i in $(seq 1 100); do
        jq -e '[.keys[].alg] | index("EdDSA")' "$STATE/jwks.json" >/dev/null 2>&1 && break
        sleep 0.1
done
for i in $(seq 1 100); do
        get_token x
        H=$(cut -d. -f1 <<<"$TOK" | tr '_-' '/+'); while [ $(( ${#H} % 4 )) -ne 0 ]; do H="$H="; done
        [ "$(base64 -d <<<"$H" | jq -r .alg)" = EdDSA ] && break
        sleep 0.1
done
[ "$(base64 -d <<<"$H" | jq -r .alg)" = EdDSA ] || fail "tokens not signed with EdDSA after rotation"
"$CLI" verify -a x --trust "$STATE/jwks.json" "$TOK" >/dev/null || fail "EdDSA token does not verify"
ok "EdDSA"
stop_agent

check "config errors stop start-up and name file:line"
n=0
while IFS='|' read -r line text; do
        n=$((n + 1))
        printf "$text\n" > "$T/bad$n.conf"
        set +e
        "$AGENT" --config "$T/bad$n.conf" --check-config 2>"$T/err"; rc=$?
        timeout 20 "$AGENT" --config "$T/bad$n.conf" --state-dir "$T/never" --socket "$T/nodir/never.sock" --log-target=stderr 2>"$T/err2"; rc2=$?
        set -e
        [ $rc -ne 0 ] && [ $rc2 -ne 0 ] || fail "config $n ($text) accepted"
        grep -q "$T/bad$n.conf:$line: " "$T/err" || fail "config $n: expected line $line: $(cat "$T/err")"
        grep -q "$T/bad$n.conf:$line: " "$T/err2" || fail "config $n at start: $(cat "$T/err2")"
        [ ! -e "$T/nodir" ] || fail "config $n: the agent made its socket's directory before it read its policy"
done <<'EOF2'
2|[agent]\nbogus = 1
1|stray = 1
1|[agenda]\nissuer = x
3|[agent]\nissuer = a\nissuer = b
2|[agent]\nalgorithm = HS256
2|[agent]\nalgorithm = none
2|[agent]\ndefault_ttl = 0
2|[agent]\ndefault_ttl = 3601
2|[agent]\ndefault_ttl = 10s
2|[agent]\nmax_ttl = -1
3|[agent]\nmax_ttl = 10\ndefault_ttl = 20
2|[agent]\nkey_lifetime = 1
2|[agent]\nkey_lifetime = 59
3|[agent]\nkey_lifetime = 10\nmax_ttl = 601
3|[agent]\nmax_ttl = 601\nkey_lifetime = 10
2|[agent]\nstate_dir = relative/path
2|[agent]\nanonymous = yes
2|[agent]\nissuer = has space
1|[agent
2|[agent]\njust a line
1|[account x]\nttl = 5
3|[account x]\nuser = a\nfoo = b
2|[agent]\ntoken_reuse = 301
2|[agent]\ntoken_reuse = -1
3|[account x]\nuser = a\nclaim.sub = evil
3|[account x]\nuser = a\nclaim.exp = 1
3|[account x]\nuser = a\nclaim.nbf = 1
3|[account x]\nuser = a\nclaim.x = a,,b
3|[account x]\nuser = a\naudiences = a b
3|[account x]\nuser = a\naudiences = a,
2|[account x]\nuser = -1
5|[account x]\nuser = a\n[account y]\nuser = a\n[account x]\nuser = b
2|[account x]\nuser = 99999999999
3|[agent]\n\nissuer = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
1|[account aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\nuser = a
2|[agent]\nissuer = vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv
3|[account x]\nuser = a\nclaim.ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc = v
3|[account x]\nuser = a\nclaim.ns:role = admin
2|[agent]\nissuer: svcid://colon
3|[account x]\nuser = a\nclaim.x:y=z
3|[account a]\nuser = a\n[account a]\nuser = b
3|[account a]\nuser = a\n[account a]
3|[agent]\nissuer = a\n[agent]\nmax_ttl = 5
2|[agent]\n[agent]
1|[bogus]
2|[agent]\n[bogus]\n[account x]\nuser = a
1|[account lonely]
2|[agent]\n[account lonely]\n[account x]\nuser = a
1|[agent] junk\nissuer = x
1|[agent];no space\nissuer = x
1|[agent] # not a comment here\nissuer = x
1|[agent]]\nissuer = x
3|[agent]\nissuer = x\n[account x]user = a
1|[]\nissuer = x
1|[account aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\nuser = a
2|[agent]\nmax_ttl = 0
2|[agent]\nmax_ttl = 3601
3|[agent]\nmax_ttl = 60\nkey_lifetime = 1
3|[account x]\nuser = a\nclaim. = x
3|[account x]\nuser = a\nclaim.iss = x
3|[account x]\nuser = a\nclaim.aud = x
3|[account x]\nuser = a\nclaim.iat = 1
3|[account x]\nuser = a\nclaim.jti = x
3|[account x]\nuser = a\nclaim.uid = 0
3|[account x]\nuser = a\nclaim.gid = 0
3|[account x]\nuser = a\nclaim.unit = x.service
3|[account x]\nuser = a\nclaim.x = a\x1fb
3|[account x]\nuser = a\nclaim.x = a\x7fb
3|[account x]\nuser = a\nclaim.x = a, b\x7f
4|[account x]\nuser = a\nclaim.x = 1\nclaim.x = 2
2|[account x]\nuser = 4294967295
2|[account x]\nuser = a:b
2|[account x]\nuser = a/b
3|[account x]\nuser = a\nunit = a b
1|[accountx]\nuser = a
2|[agent]\nissuer = vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\n\0
EOF2
[ -e "$T/nodir/never.sock" ] && fail "a refused agent left a socket"
# ... and with the words for what is wrong
while IFS='|' read -r text want; do
        printf "$text\n" > "$T/why.conf"
        "$AGENT" --config "$T/why.conf" --check-config 2>"$T/err" && fail "accepted: $text"
        grep -qF "$T/why.conf:2: $want" "$T/err" || fail "$text: expected '$want': $(cat "$T/err")"
done <<'EOF2'
[account x]\nuser =|bad user name ''
[account x]\nuser = 99999999999|uid 99999999999 is out of range
[account x]\nuser = 4294967295|uid 4294967295 is out of range
[account x]\nuser = a:b|bad user name 'a:b'
[agent]\nissuer = x\0\nbogus = 1|NUL byte
[agent]\nissuer ; see: x|syntax error
[agent]\nmax_ttl = 3601|max_ttl must be between 1 and 3600, not '3601'
[agent]\ndefault_ttl = 10s|default_ttl must be a whole number of seconds, not '10s'
[agent]\nalgorithm = n\x1b[31mope|unknown algorithm 'n?[31mope'
[agent]\ndefault_ttl = 6\xe90|default_ttl must be a whole number of seconds, not '6?0'
EOF2
ok "$n bad configs refused with file:line"

check "a config file that others may write is refused"
printf '[agent]\n' > "$T/ww.conf"
chmod 0666 "$T/ww.conf"
if "$AGENT" --config "$T/ww.conf" --check-config 2>"$T/err"; then fail "world-writable config accepted"; fi
grep -q "ww.conf: writable by group or others (mode 0666): refusing it" "$T/err" || fail "message: $(cat "$T/err")"
chmod 0664 "$T/ww.conf"
if "$AGENT" --config "$T/ww.conf" --check-config 2>"$T/err"; then fail "group-writable config accepted"; fi
grep -q "ww.conf: writable by group or others (mode 0664): refusing it" "$T/err" || fail "message: $(cat "$T/err")"
# So is one another user owns, or one below a directory others may write
# (unless sticky): either could give themselves claims.
chmod 0644 "$T/ww.conf"
"$AGENT" --config "$T/ww.conf" --check-config >/dev/null || fail "a safe config refused"
if [ "$(id -u)" = 0 ]; then
        chown 65534 "$T/ww.conf"
        if "$AGENT" --config "$T/ww.conf" --check-config 2>"$T/err"; then fail "another user's config accepted"; fi
        grep -qF "ww.conf: owned by uid 65534, not root: refusing it; give it to root, or run the agent as its owner (runuser -u $(id -un 65534) -- svcid-agent)" "$T/err" ||
                fail "message: $(cat "$T/err")"
        chown 0 "$T/ww.conf"
fi
# A file's path that ends in '/' names a directory, as open(2) has it.
if "$AGENT" --config "$T/ww.conf/" --check-config 2>"$T/err"; then fail "a config path ending in '/' accepted"; fi
[ "$(cat "$T/err")" = "svcid-agent: error: $T/ww.conf/: names a directory (it ends in '/'), not a file" ] ||
        fail "message: $(cat "$T/err")"
mkdir -m 0777 "$T/open.d"
cp "$T/ww.conf" "$T/open.d/agent.conf"
if "$AGENT" --config "$T/open.d/agent.conf" --check-config 2>"$T/err"; then
        fail "a config below a world-writable directory accepted"
fi
grep -q "directory \"$T/open.d\" is writable by group or others (mode 0777)" "$T/err" ||
        fail "message: $(cat "$T/err")"
chmod 1777 "$T/open.d"
"$AGENT" --config "$T/open.d/agent.conf" --check-config >/dev/null || fail "config in a sticky directory refused"
printf '[agent]\nissuer = svcid://ok\n[account a]\nunit = build-*.service\n' > "$T/good.conf"
"$AGENT" --config "$T/good.conf" --check-config >/dev/null || fail "good config refused"
# the limits svcid.conf(5) states: a 197-byte line (whatever ends it),
# a 64-character claim name, a ':' after the '='
for end in '\n' '\r\n' ''; do
        printf "[agent]\nissuer = %s$end" "$(head -c 188 /dev/zero | tr '\0' v)" > "$T/good.conf"
        "$AGENT" --config "$T/good.conf" --check-config >/dev/null || fail "a 197-byte line refused"
done
# a symbolic link as the file is refused, and said so
ln -s "$T/good.conf" "$T/link.conf"
if "$AGENT" --config "$T/link.conf" --check-config 2>"$T/err"; then fail "a symlinked config accepted"; fi
grep -q "^svcid-agent: error: $T/link.conf: a symbolic link, which svcid-agent does not follow: name the file itself" "$T/err" ||
        fail "symlinked config: $(cat "$T/err")"
# a max_ttl under the default default_ttl (300) lowers that default
printf '[agent]\nmax_ttl = 100\n' > "$T/good.conf"
"$AGENT" --config "$T/good.conf" --check-config >/dev/null || fail "max_ttl = 100 alone refused"
printf '[agent]\nkey_lifetime = 60\n' > "$T/good.conf"
"$AGENT" --config "$T/good.conf" --check-config >/dev/null || fail "key_lifetime = max_ttl / 60 refused"
printf '[account a]\nuser = a\nclaim.%s = v\naudiences = ssh:web*\nunit = a:b.service\n' "$(head -c 64 /dev/zero | tr '\0' c)" > "$T/good.conf"
"$AGENT" --config "$T/good.conf" --check-config >/dev/null || fail "a 64-character claim name refused: $("$AGENT" --config "$T/good.conf" --check-config 2>&1)"
# a claim name with '-' and '.', 48 characters between the brackets (a
# 40-character account name), comment lines with ':' in them, a UTF-8 BOM,
# and uid 4294967294 (the highest that is not (uid_t) -1)
printf '\xef\xbb\xbf# see: svcid.conf(5)\n[account %s]\n; note: a comment\nuser = a\nclaim.a-b.c_d = v\n' \
        "$(head -c 40 /dev/zero | tr '\0' a)" > "$T/good.conf"
printf '[account top]\nuser = 4294967294\n' >> "$T/good.conf"
"$AGENT" --config "$T/good.conf" --check-config >/dev/null ||
        fail "a good config refused: $("$AGENT" --config "$T/good.conf" --check-config 2>&1)"
# a file of 64 KiB is taken, one byte more is refused
{ printf '[agent]\n'; head -c $((65536 - 8)) /dev/zero | tr '\0' '\n'; } > "$T/big.conf"
"$AGENT" --config "$T/big.conf" --check-config >/dev/null ||
        fail "a 64 KiB config refused: $("$AGENT" --config "$T/big.conf" --check-config 2>&1)"
printf '\n' >> "$T/big.conf"
if "$AGENT" --config "$T/big.conf" --check-config 2>"$T/err"; then fail "a config over 64 KiB accepted"; fi
grep -q "big.conf: larger than 65536 bytes" "$T/err" || fail "config over 64 KiB: $(cat "$T/err")"
# the shipped example: valid as it is, and with every setting uncommented
"$AGENT" --config "$SVCID_SRC/packaging/agent.conf" --check-config >/dev/null || fail "packaging/agent.conf refused"
# No --config and no /etc/svcid/agent.conf: the agent runs on defaults, and
# --check-config says so rather than "ok" (the edit went elsewhere). An
# installed package's file is hidden in a private mount namespace.
no_conf=(sh -c 'exec "$0" --check-config' "$AGENT")
[ -e /etc/svcid/agent.conf ] && no_conf=(unshare -m sh -c 'mount -t tmpfs tmpfs /etc/svcid && exec "$0" --check-config' "$AGENT")
if [ -e /etc/svcid/agent.conf ] && [ "$(id -u)" != 0 ]; then
        echo "note: /etc/svcid/agent.conf exists and this is not root: its absence is not checked"
else
        "${no_conf[@]}" >"$T/out" || fail "--check-config without a config file failed"
        [ "$(cat "$T/out")" = "/etc/svcid/agent.conf: not present: the defaults apply" ] ||
                fail "--check-config without a config file said: $(cat "$T/out")"
fi
sed 's/^;\([a-z[]\)/\1/' "$SVCID_SRC/packaging/agent.conf" > "$T/example.conf"
grep -q '^\[account deploy-bot\]' "$T/example.conf" || fail "uncommenting packaging/agent.conf failed"
"$AGENT" --config "$T/example.conf" --check-config >/dev/null || fail "packaging/agent.conf with every line uncommented refused"
ok "config file checks"

if [ "$(id -u)" != 0 ]; then
        echo "SKIP (partial): not root: two uids and the unit claim need root; the rest passed"
        exit 0
fi

check "two real uids get their own claims (setpriv)"
U1=svcid-t1-$$
U2=svcid-t2-$$
EXTRA_CLEANUP+=("userdel $U1 2>/dev/null" "userdel $U2 2>/dev/null")
useradd -r -M -s /usr/sbin/nologin "$U1"
useradd -r -M -s /usr/sbin/nologin "$U2"
UID1=$(id -u "$U1"); GID1=$(id -g "$U1")
UID2=$(id -u "$U2"); GID2=$(id -g "$U2")
cat > "$T/agent.conf" <<EOF2
[agent]
anonymous = allow
[account second]
user = $UID2
claim.team = two
[account unit-acct]
unit = svcid-test-$$-*.service
audiences = unit:*
EOF2
start_agent q "$T/agent.conf"
as_user() {
        setpriv --reuid="$1" --regid="$2" --clear-groups \
                curl -s --max-time 20 --unix-socket "$SOCK" "http://localhost/v1/token?aud=$3"
}
C=$(claims "$(as_user "$UID1" "$GID1" x | jq -r .token)")
[ "$(jq -r .sub <<<"$C")" = "$U1" ] || fail "uid1 sub: $C"
[ "$(jq -r .uid <<<"$C")" = "$UID1" ] && [ "$(jq -r .gid <<<"$C")" = "$GID1" ] || fail "uid1 ids: $C"
C=$(claims "$(as_user "$UID2" "$GID2" x | jq -r .token)")
[ "$(jq -r .sub <<<"$C")" = second ] || fail "uid2 sub: $C"
[ "$(jq -r .team <<<"$C")" = two ] || fail "uid2 claim: $C"
[ "$(jq -r .uid <<<"$C")" = "$UID2" ] && [ "$(jq -r .gid <<<"$C")" = "$GID2" ] || fail "uid2 ids: $C"
# same audience, same moment, another uid: never the other's (reused) token
J1=$(claims "$(as_user "$UID1" "$GID1" same | jq -r .token)" | jq -r .jti)
J2=$(claims "$(as_user "$UID2" "$GID2" same | jq -r .token)" | jq -r .jti)
[ "$J1" != "$J2" ] || fail "two uids got the same token"
# the same uid with another gid: never the first gid's (reused) token
C=$(claims "$(as_user "$UID1" "$GID2" same | jq -r .token)")
[ "$(jq -r .gid <<<"$C")" = "$GID2" ] || fail "uid1 with gid2 got gid $(jq -r .gid <<<"$C"): $C"
[ "$(jq -r .jti <<<"$C")" != "$J1" ] || fail "uid1 with another gid got the same token"
# a uid without a passwd entry: no user name to put in sub
R=$(setpriv --reuid=54321 --regid=54321 --clear-groups curl -s --max-time 20 --unix-socket "$SOCK" "http://localhost/v1/token?aud=x")
[ "$(jq -r .error <<<"$R")" = forbidden ] || fail "nameless uid: $R"
# A user name that cannot be a sub (not UTF-8, or with a space, which
# would split a map= line or a log line) is refused as such, not as an
# internal error. The users stay until the end: a uid freed and taken
# again would be named by the agent's remembered name for 5 s.
# no_sub_user NAME WHAT
no_sub_user() {
        if useradd --badname -r -M -s /usr/sbin/nologin "$1" 2>/dev/null; then
                EXTRA_CLEANUP+=("userdel '$1' 2>/dev/null")
                R=$(setpriv --reuid="$(id -u "$1")" --regid="$(id -g "$1")" --clear-groups \
                        curl -s --max-time 20 --unix-socket "$SOCK" "http://localhost/v1/token?aud=x")
                [ "$(jq -r .error <<<"$R")" = forbidden ] && jq -r .message <<<"$R" | grep -q "cannot be a token's sub" ||
                        fail "a user name $2: $R"
        else
                echo "note: useradd --badname refused a name $2; that case is not checked"
        fi
}
no_sub_user $'svcid-t3\xff'$$ "that is not UTF-8"
no_sub_user "svcid t6-$$" "with a space"
# svcid token as another user, through the CLI (a copy in $T: the build
# directory may be private to root, as in a clone under mktemp -d)
install -m 0755 "$CLI" "$T/svcid"
TOK=$(setpriv --reuid="$UID1" --regid="$GID1" --clear-groups env SVCID_AGENT_SOCKET="$SOCK" "$T/svcid" token -a cli) ||
        fail "svcid token as $U1"
[ "$(claims "$TOK" | jq -r .sub)" = "$U1" ] || fail "svcid token sub as $U1"
# a renamed user is named by its new name once the agent's 5 seconds of
# remembered names are over (svcid-agent(8)), and never gets the token
# of its old name again, though within token_reuse of it
J1=$(claims "$(as_user "$UID1" "$GID1" renamed | jq -r .token)" | jq -r .jti)
usermod -l "$U1-r" "$U1"
# (userdel of the renamed user leaves the group of its old name)
EXTRA_CLEANUP+=("userdel $U1-r 2>/dev/null" "groupdel $U1 2>/dev/null")
sleep 6
C=$(claims "$(as_user "$UID1" "$GID1" renamed | jq -r .token)")
[ "$(jq -r .sub <<<"$C")" = "$U1-r" ] && [ "$(jq -r .jti <<<"$C")" != "$J1" ] ||
        fail "a user renamed 6 s ago: $C"
usermod -l "$U1" "$U1-r"
ok "uids"

CGROOT=/sys/fs/cgroup/unified
CG=$CGROOT/system.slice/svcid-test-$$-build.service
if [ ! -d "$CGROOT" ] || ! mkdir -p "$CG" 2>/dev/null; then
        echo "SKIP (partial): no writable cgroup v2 hierarchy at $CGROOT; unit claim not tested"
        stop_agent
        exit 0
fi
check "a process in a real cgroup named like a unit gets the unit claim and unit account"
EXTRA_CLEANUP+=("rmdir $CG 2>/dev/null")
# in_unit AUD [CGROUP]: a token request from a process in CGROUP ($CG)
in_unit() {
        sh -c 'echo $$ > "$1/cgroup.procs" && exec curl -s --max-time 20 --unix-socket "$2" "http://localhost/v1/token?aud=$3"' \
                sh "${2:-$CG}" "$SOCK" "$1"
}
R=$(in_unit unit:deploy)
C=$(claims "$(jq -r .token <<<"$R")")
[ "$(jq -r .unit <<<"$C")" = "svcid-test-$$-build.service" ] || fail "unit claim: $R $C"
[ "$(jq -r .sub <<<"$C")" = unit-acct ] || fail "unit account: $C"
# the same uid outside the unit never gets the unit's (reused) token
get_token unit:deploy
[ "$(claims "$TOK" | jq -r .jti)" != "$(jq -r .jti <<<"$C")" ] || fail "token of the unit handed out outside it"
R=$(in_unit other)
[ "$(jq -r .error <<<"$R")" = forbidden ] || fail "unit account audience glob not enforced: $R"
# two uids without a user name, in the same unit and group, asking the
# same: each its own token, never the other's (reused)
for u in 54321 54322; do
        sh -c 'echo $$ > "$1/cgroup.procs" && exec setpriv --reuid="$2" --regid=54321 --clear-groups \
                curl -s --max-time 20 --unix-socket "$3" "http://localhost/v1/token?aud=unit:nameless"' sh "$CG" "$u" "$SOCK" > "$T/nameless.$u"
        C=$(claims "$(jq -r .token "$T/nameless.$u")")
        [ "$(jq -r .uid <<<"$C")" = "$u" ] && [ "$(jq -r .sub <<<"$C")" = unit-acct ] ||
                fail "nameless uid $u in the unit: $(cat "$T/nameless.$u") $C"
done
[ "$(jq -r .token "$T/nameless.54321")" != "$(jq -r .token "$T/nameless.54322")" ] || fail "two nameless uids got the same token"
# outside the unit: no unit claim, anonymous
get_token unit:deploy
C=$(claims "$TOK")
[ "$(jq -r 'has("unit")' <<<"$C")" = false ] || [ "$(jq -r .unit <<<"$C")" != "svcid-test-$$-build.service" ] ||
        fail "unit claim outside the unit: $C"
[ "$(jq -r .sub <<<"$C")" = root ] || fail "sub outside the unit: $C"
# outside_account UNIT WHERE: a caller in UNIT, which the account's glob
# does not match, gets that unit's claim and its own identity, never the
# account's
outside_account() {
        local cg=$CGROOT/system.slice/$1

        mkdir -p "$cg"
        EXTRA_CLEANUP+=("rmdir $cg 2>/dev/null")
        R=$(in_unit unit:deploy "$cg")
        C=$(claims "$(jq -r .token <<<"$R")")
        [ "$(jq -r .unit <<<"$C")" = "$1" ] || fail "unit claim $2: $R $C"
        [ "$(jq -r .sub <<<"$C")" = root ] || fail "unit account matched a caller $2: $C"
}
outside_account "svcid-elsewhere-$$.service" "in another unit"
# a unit glob is matched case by case
outside_account "SVCID-TEST-$$-build.service" "in a unit that differs in case"
ok "unit"
stop_agent

check "a process that moves between units is named by the one it is in; a unit seen once is known again by its cgroup id"
CG2=$CGROOT/system.slice/svcid-test-$$-other.service
mkdir -p "$CG2"
EXTRA_CLEANUP+=("rmdir $CG2 2>/dev/null")
# The agent's own reads of /proc/PID/cgroup, counted by a preload that
# only writes a line to the agent's log for each (no call is changed).
cat > "$T/countcg.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>
int open(const char *path, int flags, ...) {
        static int (*real)(const char *, int, ...);
        size_t n = strlen(path);
        mode_t mode = 0;
        if (flags & (O_CREAT | O_TMPFILE)) {
                va_list ap;
                va_start(ap, flags);
                mode = (mode_t) va_arg(ap, int);
                va_end(ap);
        }
        if (n > 13 && strncmp(path, "/proc/", 6) == 0 && strcmp(path + n - 7, "/cgroup") == 0) {
                static const char msg[] = "test-preload: read of a cgroup file\n";
                (void) !write(2, msg, sizeof msg - 1);
        }
        if (!real)
                real = (int (*)(const char *, int, ...)) dlsym(RTLD_NEXT, "open");
        return real(path, flags, mode);
}
EOF
cc -shared -fPIC -o "$T/countcg.so" "$T/countcg.c" -ldl || fail "cannot build the preload"
pre=$T/countcg.so
case "$SVCID_BUILD" in *asan*) pre="$(cc -print-file-name=libasan.so):$pre" ;; esac
# The preload for the agent alone: not for the test's own curl and the
# rest, which start_agent runs too.
cat > "$T/agent-counted" <<EOF
#!/bin/sh
LD_PRELOAD='$pre' exec '$AGENT' "\$@"
EOF
chmod 755 "$T/agent-counted"
: > "$T/moves.conf"
AGENT=$T/agent-counted start_agent moves "$T/moves.conf"
cat > "$T/moves.py" <<'EOF'
import base64, json, os, socket, sys
sock, cgroups = sys.argv[1], sys.argv[2:]
units = []
for cg in cgroups:
    with open(os.path.join(cg, "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    s.sendall(b"GET /v1/token?aud=moves HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n")
    data = s.makefile("rb").read()      # to the agent's close
    token = json.loads(data.split(b"\r\n\r\n", 1)[1])["token"]
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    units.append(claims.get("unit", "-"))
print(" ".join(units))
EOF
got=$("$PY" "$T/moves.py" "$SOCK" "$CG" "$CG2" "$CG" "$CGROOT")
A=svcid-test-$$-build.service
B=svcid-test-$$-other.service
[ "$got" = "$A $B $A -" ] || fail "units as the process moved: $got (expected $A $B $A -)"
# New processes in a unit already seen: where the kernel gives a pidfd's
# cgroup id (PIDFD_GET_INFO, Linux 6.13), the agent reads no cgroup file
# for them; before that, one each.
n0=$(grep -c "test-preload: read" "$AGENT_LOG" || true)
for i in 1 2 3; do in_unit counted >/dev/null; done
n=$(($(grep -c "test-preload: read" "$AGENT_LOG" || true) - n0))
if "$PY" -c 'import fcntl, os; fcntl.ioctl(os.pidfd_open(os.getpid()), 0xc040ff0b, bytearray(64))' 2>/dev/null; then
        [ "$n" = 0 ] || fail "$n reads of cgroup files for 3 callers in a unit known by its cgroup id"
        how="by cgroup id, no cgroup file read"
else
        [ "$n" = 3 ] || fail "$n reads of cgroup files for 3 callers, expected 3 (no PIDFD_GET_INFO here)"
        how="one cgroup file read each (no PIDFD_GET_INFO here)"
fi
ok "$got; three more callers in $A: $how"
stop_agent

check "user = : a name may start with a digit; all digits, a uid, is refused when it names another user; an unknown name warns"
U4=4svcid-t4-$$
U5=$((4200000 + $$ % 100000))
EXTRA_CLEANUP+=("userdel $U4 2>/dev/null" "userdel $U5 2>/dev/null")
useradd --badname -r -M -s /usr/sbin/nologin "$U4"
printf '[account digit]\nuser = %s\nclaim.k = d\n[account typo]\nuser = svcid-nosuch-%s\n' "$U4" $$ > "$T/dg.conf"
"$AGENT" --config "$T/dg.conf" --check-config >/dev/null 2>"$T/dg.err" || fail "a user name led by a digit is refused: $(cat "$T/dg.err")"
grep -q "$T/dg.conf:5: no user is named 'svcid-nosuch-$$' now" "$T/dg.err" || fail "no warning for an unknown user: $(cat "$T/dg.err")"
start_agent dg "$T/dg.conf"
grep -q "warning: $T/dg.conf:5: no user is named" "$AGENT_LOG" || fail "the agent does not log the warning"
C=$(claims "$(as_user "$(id -u "$U4")" "$(id -g "$U4")" x | jq -r .token)")
[ "$(jq -r .sub <<<"$C")" = digit ] && [ "$(jq -r .k <<<"$C")" = d ] || fail "$U4 is not matched by name: $C"
stop_agent
useradd --badname -r -M -s /usr/sbin/nologin "$U5"
printf '[account n]\nuser = %s\n' "$U5" > "$T/dn.conf"
"$AGENT" --config "$T/dn.conf" --check-config >/dev/null 2>"$T/dn.err" && fail "user = $U5, also a user's name, accepted as a uid"
grep -q "$T/dn.conf:2: user '$U5' is ambiguous: a uid, and the name of the user with uid $(id -u "$U5")" "$T/dn.err" ||
        fail "the ambiguity is not named: $(cat "$T/dn.err")"
userdel "$U4"
userdel "$U5"
ok "a name led by a digit matches; $(cut -d' ' -f3- "$T/dn.err")"

check "the config check refuses claims too long for the shortest token, and no more"
# As root (uid and gid 0), with aud=a, the longest claims the check takes
# make a token of exactly 8192 bytes with an RS256 key (3072 bits, a
# 384-byte signature); one byte more of them is refused. The check counts
# that signature whatever the algorithm: after a change of algorithm the
# old key signs until its rotation.
# tail_conf TAIL [ALGORITHM CLAIMS AUDIENCES]
tail_conf() {
        printf '[agent]\nissuer = svcid://sb.test\ntoken_reuse = 0\n'
        [ -z "${2:-}" ] || printf 'algorithm = %s\n' "$2"
        printf '[account big]\nuser = root\n'
        [ -z "${4:-}" ] || printf 'audiences = %s\n' "$4"
        for i in $(seq 1 "${3:-34}"); do printf 'claim.c%02d = %s\n' "$i" "$(head -c 150 /dev/zero | tr '\0' v)"; done
        printf 'claim.tail = %s\n' "$(head -c "$1" /dev/zero | tr '\0' w)"
}
for alg in ES256 EdDSA; do
        tail_conf 136 $alg > "$T/sz.conf"
        "$AGENT" --config "$T/sz.conf" --check-config >/dev/null 2>"$T/sz.err" && fail "$alg: claims too long for an RS256 key accepted"
        grep -q "$T/sz.conf:5: \\[account big\\]: its claims make every token over 8192 bytes (at least 8[0-9]*)" "$T/sz.err" ||
                fail "$alg: refused, but not as too long: $(cat "$T/sz.err")"
done
tail_conf 135 > "$T/sz.conf"
start_agent sz "$T/sz.conf"
get_token a
# the same token with ES256's 64-byte signature (86 characters, not 512)
[ "${#TOK}" = $((8192 - 512 + 86)) ] || fail "ES256: the longest claims the check takes make a ${#TOK}-byte token"
stop_agent
# The shortest audience the account may ask for counts, not "a": the
# shortest match of each glob (a bracket expression is one character,
# a class in it too; "*" none).
long=$(head -c 150 /dev/zero | tr '\0' L)
for globs in "$long" "$long*" "[[:alpha:]]${long:1}" "[]a]${long:1}" "[\\]]${long:1}" "[${long:1}"; do
        tail_conf 1 "" 34 "$globs" > "$T/sz.conf"
        "$AGENT" --config "$T/sz.conf" --check-config >/dev/null 2>"$T/sz.err" && fail "audiences $globs: claims too long beside them accepted"
        grep -q "$T/sz.conf:4: \\[account big\\]: its claims make every token over 8192 bytes" "$T/sz.err" ||
                fail "audiences $globs: refused, but not as too long: $(cat "$T/sz.err")"
done
for globs in "$long,L*" "$long,*" "[[:alpha:]]*" "[abc*" "x,[!a]"; do
        tail_conf 1 "" 34 "$globs" > "$T/sz.conf"
        "$AGENT" --config "$T/sz.conf" --check-config >/dev/null 2>"$T/sz.err" ||
                fail "audiences $globs: claims that fit a short audience refused: $(cat "$T/sz.err")"
done
# At the very limit (claims that fit an audience of one byte and no
# more), globs whose shortest match is one byte as glibc reads them: a
# '[' in a bracket that starts no class, equivalence class or collating
# symbol is a member; and ones whose shortest match is longer.
for globs in "[[:?:]" "[[=[*=]" "[a-z[:.:]" "[abcdefghijklmnopqrstuvwxyz[==]" "a*" "[]]" "[!\\]]"; do
        tail_conf 135 "" 34 "$globs" > "$T/sz.conf"
        "$AGENT" --config "$T/sz.conf" --check-config >/dev/null 2>"$T/sz.err" ||
                fail "audiences $globs, whose shortest match is 1 byte: refused: $(cat "$T/sz.err")"
done
for globs in "[[==]=a" "[b[==]?" "[[:alpha:]]x" "ab*"; do
        tail_conf 135 "" 34 "$globs" > "$T/sz.conf"
        "$AGENT" --config "$T/sz.conf" --check-config >/dev/null 2>"$T/sz.err" &&
                fail "audiences $globs, whose shortest match is over 1 byte: claims at the limit accepted"
done
# RS256 (3072-bit keys)
tail_conf 136 RS256 34 > "$T/sz.conf"
"$AGENT" --config "$T/sz.conf" --check-config >/dev/null 2>"$T/sz.err" && fail "RS256: claims one byte too long accepted"
grep -q "$T/sz.conf:5: \\[account big\\]: its claims make every token over 8192 bytes" "$T/sz.err" ||
        fail "RS256: refused, but not as too long: $(cat "$T/sz.err")"
tail_conf 135 RS256 34 > "$T/sz.conf"
start_agent rsz "$T/sz.conf"
get_token a
[ "${#TOK}" = 8192 ] || fail "RS256: the longest claims the check takes make a ${#TOK}-byte token, not 8192"
# ... and beside a longer audience they do not fit: that request is refused
expect_status 500 internal "/v1/token?aud=aa"
jq -r .message <<<"$BODY" | grep -q "over 8192 bytes: the claims are too long" || fail "no reason: $BODY"
stop_agent
ok "claims that make an 8192-byte token taken, one byte more refused; a longer audience: $(jq -r .message <<<"$BODY")"

check "an agent that cannot see pid 1 (/proc mounted hidepid=2) refuses to start, saying why"
# Its own /proc, in its own mount namespace; it runs as $U1, to whom
# hidepid hides other users' processes, pid 1 among them, whose cgroup
# systemd's unit lookup starts from. A copy of the agent in $T: the build
# may be root-only.
install -m 0755 "$AGENT" "$T/svcid-agent"
mkdir -m 0755 "$T/hp"
chown "$UID1:$GID1" "$T/hp"
: > "$T/hp.conf"
chmod 0644 "$T/hp.conf"
out=$(timeout -s KILL 20 unshare -m sh -c 'mount -t proc -o hidepid=2 proc /proc && exec "$@"' sh \
        setpriv --reuid="$UID1" --regid="$GID1" --clear-groups "$T/svcid-agent" --config "$T/hp.conf" \
        --state-dir "$T/hp/state" --socket "$T/hp/agent.sock" --log-target=stderr 2>&1) && fail "it started: $out"
[[ "$out" == *"cannot read /proc/1/cgroup: No such file or directory (units are named relative to pid 1's cgroup)"* ]] ||
        fail "the reason: $out"
[ ! -e "$T/hp/state" ] && [ ! -e "$T/hp/agent.sock" ] || fail "it made its state or socket"
ok "exit 1: $out"

check "an agent that cannot learn a caller's unit (/proc mounted hidepid=2) refuses rather than serving it as in no unit"
# Now pid 1 of a pid namespace of its own, where hidepid hides only its
# callers (root): the caller enters that namespace to be given a pid.
SOCK=$T/hp/agent.sock
AGENT_LOG=$T/hp.log
unshare -m -p -f --kill-child=KILL sh -c 'mount -t proc -o hidepid=2 proc /proc && exec "$@"' sh \
        setpriv --reuid="$UID1" --regid="$GID1" --clear-groups "$T/svcid-agent" --config "$T/hp.conf" \
        --state-dir "$T/hp/state" --socket "$SOCK" --log-target=stderr 2>>"$AGENT_LOG" &
HP_UNSHARE=$!
BG_PIDS+=("$HP_UNSHARE")
EXTRA_CLEANUP+=("pkill -KILL -P $HP_UNSHARE")
wait_for_socket "$SOCK" || fail "the hidepid agent did not come up: $(cat "$AGENT_LOG")"
HP_AGENT=$(pgrep -P "$HP_UNSHARE")
out=$(nsenter -t "$HP_AGENT" -p curl -s --max-time 20 --unix-socket "$SOCK" "http://localhost/v1/token?aud=hidden")
[ "$(jq -r .error <<<"$out")" = internal ] || fail "expected 500 internal: $out"
grep -q "refused reason=internal aud='hidden' .*: cannot check the ids, unit or user name of the caller" "$AGENT_LOG" || fail "the refusal is not logged: $(cat "$AGENT_LOG")"
grep -q " mint " "$AGENT_LOG" && fail "a token was minted for a caller whose unit is unknown"
ok "refused: $out"
kill -TERM "$HP_AGENT"
stop_agent "$HP_UNSHARE"

if command -v cc >/dev/null; then
        check "... also where only /proc could tell the caller's ids, and no unit is ever named"
        # hidepid hides the caller's ids as much as its unit: ids that
        # cannot be read are not taken for the ones it connected with,
        # even where the unit lookup, with no cgroups mounted (a tmpfs
        # over them), would find no unit rather than fail. PIDFD_GET_INFO,
        # which tells the ids through the pidfd, and SO_PEERPIDFD fail as
        # on Linux 6.1 (tests/old_kernel.c, a mock: the kernel here has
        # both).
        cc -shared -fPIC -o "$T/noinfo.so" "$SVCID_SRC/tests/old_kernel.c" -ldl || fail "cannot build the preload"
        chmod 0755 "$T/noinfo.so"
        # (a sanitizer build's agent must load its runtime first)
        pre=$T/noinfo.so
        case "$SVCID_BUILD" in *asan*) pre="$(cc -print-file-name=libasan.so):$pre" ;; esac
        AGENT_LOG=$T/hp2.log
        unshare -m -p -f --kill-child=KILL sh -c \
                'mount -t proc -o hidepid=2 proc /proc && mount -t tmpfs tmpfs /sys/fs/cgroup && exec "$@"' sh \
                setpriv --reuid="$UID1" --regid="$GID1" --clear-groups env LD_PRELOAD="$pre" "$T/svcid-agent" \
                --config "$T/hp.conf" --state-dir "$T/hp/state" --socket "$SOCK" --log-target=stderr \
                2>>"$AGENT_LOG" &
        HP_UNSHARE=$!
        BG_PIDS+=("$HP_UNSHARE")
        EXTRA_CLEANUP+=("pkill -KILL -P $HP_UNSHARE")
        wait_for_socket "$SOCK" || fail "the hidepid agent did not come up: $(cat "$AGENT_LOG")"
        HP_AGENT=$(pgrep -P "$HP_UNSHARE")
        out=$(nsenter -t "$HP_AGENT" -p curl -s --max-time 20 --unix-socket "$SOCK" \
                "http://localhost/v1/token?aud=hidden2")
        [ "$(jq -r .error <<<"$out")" = internal ] || fail "expected 500 internal: $out"
        grep -q "refused reason=internal aud='hidden2' .*: cannot check the ids, unit or user name of the caller: Permission denied" \
                "$AGENT_LOG" || fail "the refusal is not logged: $(cat "$AGENT_LOG")"
        if grep -q " mint " "$AGENT_LOG"; then
                fail "a token was minted for a caller whose ids are unknown"
        fi
        ok "refused: $out"
        kill -TERM "$HP_AGENT"
        stop_agent "$HP_UNSHARE"
fi

check "an agent whose user name lookup fails (not 'no such user') refuses rather than match the caller by uid"
# NSS failing for real, no mock: in its own mount namespace the agent
# sees an /etc/passwd of mode 0 and an nsswitch.conf of files only (else
# nss-systemd would make up root), and runs as root without
# CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so getpwuid_r() gets EACCES
# opening the file. The caller (root) is named by 'narrow'; 'wide' would
# take it by uid alone.
cp /etc/passwd "$T/passwd.0"
chmod 0 "$T/passwd.0"
printf 'passwd: files\ngroup: files\nhosts: files\n' > "$T/nsswitch.conf"
printf '[agent]\nissuer = svcid://nss.test\n[account narrow]\nuser = root\naudiences = safe\n[account wide]\nuser = 0\n' > "$T/nss.conf"
start_agent nss-ok "$T/nss.conf"
get_token safe
[ "$(claims "$TOK" | jq -r .sub)" = narrow ] || fail "control: root is not named by 'narrow'"
expect_status 403 forbidden "/v1/token?aud=prod"
stop_agent
SOCK=$T/nss.sock
AGENT_LOG=$T/nss.log
unshare -m sh -c 'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/nsswitch.conf && shift 2 && exec "$@"' sh \
        "$T/passwd.0" "$T/nsswitch.conf" setpriv --bounding-set=-dac_override,-dac_read_search \
        "$AGENT" --config "$T/nss.conf" --state-dir "$T/nss" --socket "$SOCK" --log-target=stderr 2>>"$AGENT_LOG" &
AGENT_PID=$!
BG_PIDS+=("$AGENT_PID")
wait_for_socket "$SOCK" || fail "the agent without /etc/passwd did not come up: $(cat "$AGENT_LOG")"
expect_status 500 internal "/v1/token?aud=prod"
expect_status 500 internal "/v1/token?aud=safe"
grep -q "refused reason=internal aud='prod' .*user name of the caller: Permission denied" "$AGENT_LOG" ||
        fail "the refusal and its cause are not logged: $(cat "$AGENT_LOG")"
grep -q " mint " "$AGENT_LOG" && fail "a token was minted for a caller whose user name is unknown"
ok "refused: $BODY"
stop_agent

check "a reload that changes the issuer: tokens name the new one only once jwks.json does"
# The agent in its own mount namespace: /etc under an overlay (so the
# default agent.conf is ours) and its state dir a bind mount of itself,
# which nsenter makes read-only and writable again.
mkdir -p "$T/ov/up/svcid" "$T/ov/work" "$T/iss"
printf '[agent]\nissuer = svcid://old.test\nanonymous = deny\n[account me]\nuser = %s\n' "$ME" > "$T/ov/up/svcid/agent.conf"
SOCK=$T/iss.sock
AGENT_LOG=$T/iss.log
unshare -m --propagation private sh -c 'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/ov/up,workdir=$1/ov/work" /etc &&
        mount --bind "$1/iss" "$1/iss" && shift && exec "$@"' sh "$T" \
        "$AGENT" --state-dir "$T/iss" --socket "$SOCK" --log-target=stderr 2>>"$AGENT_LOG" &
AGENT_PID=$!
BG_PIDS+=("$AGENT_PID")
wait_for_socket "$SOCK" || fail "the agent with the default agent.conf did not come up: $(cat "$AGENT_LOG")"
in_ns() { nsenter -t "$AGENT_PID" -m "$@"; }
get_token x
[ "$(claims "$TOK" | jq -r .sub)" = me ] || fail "control: the default agent.conf is not in effect: $(claims "$TOK")"
in_ns mount -o remount,bind,ro "$T/iss"
in_ns sed -i 's|svcid://old.test|svcid://new.test|' /etc/svcid/agent.conf
hup "key update failed"
grep -q "the issuer changes from svcid://old.test to svcid://new.test" "$AGENT_LOG" || fail "the issuer change is not logged"
get_token x
[ "$(claims "$TOK" | jq -r .iss)" = svcid://old.test ] || fail "a token names an issuer no JWKS names: $(claims "$TOK")"
http /v1/health
[ "$(jq -r .issuer <<<"$BODY")" = svcid://old.test ] || fail "health names an issuer no JWKS names: $BODY"
curl -s --max-time 20 --unix-socket "$SOCK" http://localhost/v1/jwks > "$T/iss.jwks"
"$CLI" verify -a x --trust "$T/iss.jwks" "$TOK" >/dev/null || fail "the token does not verify with the agent's own JWKS"
in_ns mount -o remount,bind,rw "$T/iss"
hup "reloaded"
# --reload returns after the key update that writes jwks.json
get_token x
[ "$(claims "$TOK" | jq -r .iss)" = svcid://new.test ] || fail "the new issuer is not in use once jwks.json is written"
[ "$(jq -r .iss "$T/iss/jwks.json")" = svcid://new.test ] || fail "jwks.json does not name the new issuer"
# The same without a reload to end it: the key update's own retry
# (svcid-agent(8): 10 s) writes jwks.json, and a token of the issuer
# before it is not handed out again, though within token_reuse.
in_ns mount -o remount,bind,ro "$T/iss"
in_ns sed -i 's|^issuer = svcid://new.test|issuer = svcid://newer.test\ntoken_reuse = 300\ndefault_ttl = 3600|' /etc/svcid/agent.conf
hup "key update failed"
get_token x
[ "$(claims "$TOK" | jq -r .iss)" = svcid://new.test ] || fail "a token names an issuer no JWKS names: $(claims "$TOK")"
J1=$(claims "$TOK" | jq -r .jti)
in_ns mount -o remount,bind,rw "$T/iss"
for _ in $(seq 1 400); do
        http /v1/health
        [ "$(jq -r .issuer <<<"$BODY")" = svcid://newer.test ] && break
        sleep 0.05
done
[ "$(jq -r .issuer <<<"$BODY")" = svcid://newer.test ] || fail "the retry did not write jwks.json: $BODY"
get_token x
[ "$(claims "$TOK" | jq -r .iss)" = svcid://newer.test ] && [ "$(claims "$TOK" | jq -r .jti)" != "$J1" ] ||
        fail "after the retry wrote jwks.json, a token of the old issuer: $(claims "$TOK")"
ok "old issuer until jwks.json named the new one, then the new; also when the retry, not a reload, writes it"

check "SIGHUP with the default agent.conf gone keeps the old policy"
in_ns rm /etc/svcid/agent.conf
hup "keeping the old policy"
grep -q "reload: /etc/svcid/agent.conf: No such file or directory; keeping the old policy" "$AGENT_LOG" ||
        fail "the missing file is not named: $(tail -n 3 "$AGENT_LOG")"
get_token x
[ "$(claims "$TOK" | jq -r .sub)" = me ] || fail "the policy fell back to the defaults: $(claims "$TOK")"
ok "old policy kept"
stop_agent

check "the default issuer is the host name at start: a reload after it changed keeps it"
printf '[agent]\ntoken_reuse = 0\n' > "$T/hn.conf"
SOCK=$T/hn.sock
AGENT_LOG=$T/hn.log
unshare --uts sh -c 'hostname alpha.example && exec "$@"' sh \
        "$AGENT" --config "$T/hn.conf" --state-dir "$T/hn" --socket "$SOCK" --log-target=stderr 2>>"$AGENT_LOG" &
AGENT_PID=$!
BG_PIDS+=("$AGENT_PID")
wait_for_socket "$SOCK" || fail "the agent in its own UTS namespace did not come up: $(cat "$AGENT_LOG")"
nsenter -t "$AGENT_PID" -u hostname beta.example
hup "reloaded"
get_token x
[ "$(claims "$TOK" | jq -r .iss)" = svcid://alpha.example ] || fail "the issuer followed the new host name: $(claims "$TOK")"
ok "still svcid://alpha.example"
stop_agent
echo "all policy checks passed"
