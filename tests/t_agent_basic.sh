#!/bin/bash
# SPDX-License-Identifier: MIT
# svcid-agent against real sockets: minting with no config at all, claims,
# file modes, the HTTP API and its errors, svcid token/exec/jwks, verify
# with the JWKS file, start-up refusals, and systemd-socket-activate.
set -euo pipefail
. "$(dirname "$0")/t_agent_common.sh"

ME=$(id -un)
MYUID=$(id -u)
MYGID=$(id -g)
: > "$T/empty.conf"

check "an agent with no config file at all mints tokens naming the caller's user"
start_agent a -
get_token x
C=$(claims "$TOK")
[ "$(jq -r .sub <<<"$C")" = "$ME" ] || fail "sub is not $ME: $C"
[ "$(jq -r .aud <<<"$C")" = x ] || fail "aud: $C"
[ "$(jq -r .uid <<<"$C")" = "$MYUID" ] || fail "uid: $C"
[ "$(jq -r .gid <<<"$C")" = "$MYGID" ] || fail "gid: $C"
[ "$(jq -r '.exp - .iat' <<<"$C")" = 300 ] || fail "default ttl is not 300: $C"
[[ "$(jq -r .iss <<<"$C")" == svcid://* ]] || fail "iss: $C"
[ "$(jq -r '.jti | length' <<<"$C")" = 22 ] || fail "jti: $C"
[ "$(jq -r .expires_at <<<"$BODY")" = "$(jq -r .exp <<<"$C")" ] || fail "expires_at != exp: $BODY"
[ "$(jq -r .sub <<<"$BODY")" = "$ME" ] || fail "response sub: $BODY"
[ ${#TOK} -lt 512 ] || fail "a default token is ${#TOK} bytes, over the 512-byte budget"
H=$(cut -d. -f1 <<<"$TOK" | tr '_-' '/+'); while [ $(( ${#H} % 4 )) -ne 0 ]; do H="$H="; done
[ "$(base64 -d <<<"$H" | jq -c 'keys')" = '["alg","kid","typ"]' ] || fail "header members"
ok "claims: $(jq -c . <<<"$C")"

check "the token verifies with svcid verify against the agent's jwks.json"
"$CLI" verify -a x --trust "$STATE/jwks.json" "$TOK" >"$T/v.json" || fail "svcid verify rejected the agent's token"
[ "$(jq -r .sub "$T/v.json")" = "$ME" ] || fail "verified sub"
if "$CLI" verify -a y --trust "$STATE/jwks.json" "$TOK" 2>/dev/null; then fail "wrong audience accepted"; fi
ok "verified"

check "file modes: keys/ 0700, key and state files 0600, jwks.json 0644, socket 0666"
[ "$(stat -c %a "$STATE/keys")" = 700 ] || fail "keys dir mode $(stat -c %a "$STATE/keys")"
for f in "$STATE"/keys/*; do
        [ "$(stat -c %a "$f")" = 600 ] || fail "$f mode $(stat -c %a "$f")"
done
ls "$STATE"/keys/*.pem >/dev/null || fail "no key file"
[ -f "$STATE/keys/state.json" ] || fail "no state.json"
[ "$(stat -c %a "$STATE/jwks.json")" = 644 ] || fail "jwks.json mode"
[ "$(stat -c %a "$SOCK")" = 666 ] || fail "socket mode $(stat -c %a "$SOCK")"
grep -q PRIVATE "$STATE/jwks.json" && fail "private material in jwks.json"
jq -e '.iss and (.keys | length == 1) and (.keys[0] | has("d") | not)' "$STATE/jwks.json" >/dev/null || fail "jwks.json shape"
ok "modes"

check "under umask 077, the directories the agent makes are still 0755"
mkdir -m 0755 "$T/um"
(umask 077 && exec "$AGENT" --config "$T/empty.conf" --state-dir "$T/um/state" --socket "$T/um/run/agent.sock" \
        --log-target=stderr 2>>"$T/um.log") &
UM_PID=$!
BG_PIDS+=("$UM_PID")
wait_for_socket "$T/um/run/agent.sock" || { cat "$T/um.log"; fail "agent under umask 077 did not come up"; }
for d in run state; do
        [ "$(stat -c %a "$T/um/$d")" = 755 ] || fail "$d/ made $(stat -c %a "$T/um/$d") under umask 077"
done
[ "$(stat -c %a "$T/um/state/jwks.json")" = 644 ] || fail "jwks.json $(stat -c %a "$T/um/state/jwks.json")"
stop_agent "$UM_PID" "$T/um.log"
ok "socket and state directories 0755, jwks.json 0644"

check "a socket other users cannot reach (a directory above it they may not search) is warned of"
# um_agent LOG: an agent on $T/um/run/agent.sock until it serves
um_agent() {
        "$AGENT" --config "$T/empty.conf" --state-dir "$T/um/state" --socket "$T/um/run/agent.sock" \
                --log-target=stderr 2>"$1" &
        UM_PID=$!
        BG_PIDS+=("$UM_PID")
        wait_for_socket "$T/um/run/agent.sock" || { cat "$1"; fail "agent on $T/um/run did not come up"; }
        stop_agent "$UM_PID" "$1"
}
chmod 0700 "$T/um/run"
um_agent "$T/um-hidden.log"
grep -qxF "svcid-agent: warning: other users cannot reach $T/um/run/agent.sock: they may not search $T/um/run (mode 0700)" \
        "$T/um-hidden.log" || fail "no warning for a socket in a 0700 directory: $(cat "$T/um-hidden.log")"
chmod 0755 "$T/um/run"
chmod 0711 "$T"
um_agent "$T/um-open.log"
chmod 0700 "$T"
if grep -q "cannot reach" "$T/um-open.log"; then
        # only if a directory above $T is closed to others
        grep -qF "they may not search $T/" "$T/um-open.log" && fail "a warning for a reachable socket: $(cat "$T/um-open.log")"
fi
ok "warned of a socket in a 0700 directory; not of one others may reach"

check "a socket directory another user could write is refused: nothing is bound there"
# Whoever may write it could put a symbolic link where the socket was just
# bound, for the agent's chmod() to make the link's target 0666, or a
# socket of their own in its place. Refused as a state directory is: one
# another uid owns, one below such a directory, one others may write.
if [ "$(id -u)" = 0 ]; then
        mkdir -m 0755 "$T/theirs" "$T/theirs-above"
        chown 65534 "$T/theirs" "$T/theirs-above"
        mkdir -m 0777 "$T/open-run"
        mkdir "$T/theirs-open"
        chown 65534 "$T/theirs-open"
        chmod 0775 "$T/theirs-open"
        mkdir "$T/theirs-sticky"
        chown 65534 "$T/theirs-sticky"
        chmod 1777 "$T/theirs-sticky"
        for sock in "$T/theirs/agent.sock" "$T/theirs-above/run/agent.sock" "$T/open-run/agent.sock" \
                "$T/theirs-open/agent.sock" "$T/theirs-sticky/agent.sock"; do
                rc=0
                timeout 20 "$AGENT" --config "$T/empty.conf" --state-dir "$T/theirs-state" --socket "$sock" \
                        --log-target=stderr 2>"$T/theirs.log" || rc=$?
                [ "$rc" = 1 ] || fail "$sock: exit $rc, not 1: $(cat "$T/theirs.log")"
                grep -Eq "error: .*(is owned by uid 65534, who could replace what is in it|writable by group or others)" \
                        "$T/theirs.log" || fail "$sock: no reason in the log: $(cat "$T/theirs.log")"
                [ ! -e "$sock" ] || fail "$sock: the agent bound it"
                # root on the package's /run/svcid, svcid's: told whom to run as;
                # and on one others may write with the sticky bit, which
                # its owner may use as a socket directory (as /tmp)
                [ "$sock" != "$T/theirs/agent.sock" ] && [ "$sock" != "$T/theirs-sticky/agent.sock" ] ||
                        grep -qF "is owned by uid 65534, who could replace what is in it; run the agent as its owner (runuser -u $(id -un 65534) -- svcid-agent)" \
                                "$T/theirs.log" || fail "$sock: no hint of whom to run as: $(cat "$T/theirs.log")"
                # ... but not where its owner would be refused too
                [ "$sock" != "$T/theirs-open/agent.sock" ] || ! grep -q "run the agent as its owner" "$T/theirs.log" ||
                        fail "$sock: a hint to run as an owner who may not either: $(cat "$T/theirs.log")"
        done
        [ ! -e "$T/theirs-above/run" ] || fail "the agent made a directory in another user's"
        ok "refused at start, nothing bound or made"
fi

check "GET /v1/jwks serves the same keys with the JWKS media type, /v1/health answers"
http /v1/jwks -D "$T/h"
[ "$STATUS" = 200 ] || fail "jwks status $STATUS"
grep -qi '^content-type: application/jwk-set+json' "$T/h" || fail "jwks content type"
[ "$(jq -cS . <<<"$BODY")" = "$(jq -cS . "$STATE/jwks.json")" ] || fail "served JWKS differs from jwks.json"
http /v1/health
[ "$STATUS" = 200 ] && [ "$(jq -r .status <<<"$BODY")" = ok ] || fail "health: $STATUS $BODY"
ok "jwks and health"

check "ttl: asked for, and capped at max_ttl"
get_token x '&ttl=60'
C=$(claims "$TOK")
[ "$(jq -r '.exp - .iat' <<<"$C")" = 60 ] || fail "ttl=60 gave $(jq -r '.exp - .iat' <<<"$C")"
http "/v1/token?aud=x&ttl=60"
C=$(claims "$(jq -r .token <<<"$BODY")")
[ "$(jq -r '.exp - .iat' <<<"$C")" = 60 ] || fail "ttl"
ok "ttl"

check "a token is handed out again for a few seconds to the same caller asking the same (token_reuse)"
get_token reuse
J1=$(claims "$TOK" | jq -r .jti)
get_token reuse
[ "$(claims "$TOK" | jq -r .jti)" = "$J1" ] || fail "second request within the window minted anew"
grep -q "aud='reuse' jti=$J1 .* reused" "$AGENT_LOG" || fail "the reuse is not in the audit log"
get_token reuse2
[ "$(claims "$TOK" | jq -r .jti)" != "$J1" ] || fail "another audience got the same token"
get_token reuse '&ttl=200'
[ "$(claims "$TOK" | jq -r .jti)" != "$J1" ] || fail "another ttl got the same token"
ok "reused"

check "bad requests get 4xx with an error word"
expect_status 400 bad_request "/v1/token"
expect_status 400 bad_request "/v1/token?aud="
expect_status 400 bad_request "/v1/token?aud"
expect_status 400 bad_request "/v1/token?aud=a%20b"
expect_status 400 bad_request "/v1/token?aud=a+b"
jq -r .message <<<"$BODY" | grep -qF "(if it was a '+': in a query that is a space; send %2B)" || fail "aud=a+b: $BODY"
expect_status 200 "" "/v1/token?aud=a%2Bb"
expect_status 400 bad_request "/v1/token?aud=a%00b"
expect_status 400 bad_request "/v1/token?aud%00x=y"
expect_status 400 bad_request "/v1/token?aud=a%0ab"
expect_status 400 bad_request "/v1/token?aud=x&aud=y"
expect_status 400 bad_request "/v1/token?aud=x&sub=root"
expect_status 400 bad_request "/v1/token?aud=x&uid=0"
expect_status 400 bad_request "/v1/token?aud=x&ttl=0"
grep -q "refused reason=bad_request aud='x' .*: ttl must be" "$AGENT_LOG" ||
        fail "a bad ttl's refusal does not name the audience asked for: $(grep bad_request "$AGENT_LOG" | tail -1)"
expect_status 400 bad_request "/v1/token?aud=x&ttl=3601"
expect_status 400 bad_request "/v1/token?aud=x&ttl=-5"
expect_status 400 bad_request "/v1/token?aud=x&ttl=+5"
expect_status 400 bad_request "/v1/token?aud=x&ttl=1e3"
expect_status 400 bad_request "/v1/token?aud=x&ttl=0x10"
expect_status 400 bad_request "/v1/token?aud=x&ttl="
expect_status 400 bad_request "/v1/token?aud=x&ttl=99999999999999999999999"
expect_status 400 bad_request "/v1/token?aud=$(head -c 256 /dev/zero | tr '\0' a)"
expect_status 400 bad_request "/v1/token?a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&aud=x"
# Strict %-escapes: libmicrohttpd alone would decode /v1/token%00x to
# "/v1/token" and keep %zz and a raw # as they are.
expect_status 400 bad_request "/v1/token%00x?aud=x"
expect_status 400 bad_request "/v1/jwks%00"
expect_status 400 bad_request "/v1/token?aud=a%zz"
expect_status 400 bad_request "/v1/token?aud=a%2"
expect_status 200 "" "/v1/token?aud=a%41"
[ "$(jq -r .token <<<"$BODY" | { read -r t; claims "$t"; } | jq -r .aud)" = aA ] || fail "aud=a%41 did not decode to aA"
# What curl would not send: a raw "#", an Expect with a pipelined byte
# (libmicrohttpd answered 100 and nothing more), and a head so near its
# 16 KiB that the answer did not fit (closed unanswered). None mints.
: > "$AGENT_LOG"
"$PY" - "$SOCK" > "$T/raw.out" <<'PYEOF2'
import socket, sys
def send(b):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(b)
    s.settimeout(10)
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            return out.split(b"\r\n")[0].decode()
        out += d
print(send(b"GET /v1/token?aud=hash#x HTTP/1.1\r\nHost: a\r\n\r\n"))
print(send(b"GET /v1/token?aud=expect HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\nG"))
print(send(b"GET /v1/token?aud=big HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 9000 + b"\r\n\r\n"))
print(send(b"GET /v1/token?aud=near HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 16050 + b"\r\n\r\n") or "closed")
PYEOF2
[ "$(cat "$T/raw.out")" = "$(printf '%s\n' 'HTTP/1.1 400 Bad Request' 'HTTP/1.1 417 Expectation Failed' \
        'HTTP/1.1 431 Request Header Fields Too Large' closed)" ] || fail "raw requests: $(cat "$T/raw.out")"
if grep -q "mint" "$AGENT_LOG"; then fail "a refused request minted: $(grep mint "$AGENT_LOG")"; fi
# The log tells audiences apart: q'z is written q\x27z, not as q?z is.
expect_status 200 "" "/v1/token?aud=q%27z"
expect_status 200 "" "/v1/token?aud=q%3Fz"
grep -qF "aud='q\x27z'" "$AGENT_LOG" && grep -qF "aud='q?z'" "$AGENT_LOG" ||
        fail "audiences q'z and q?z logged as: $(grep -o "aud='q[^ ]*" "$AGENT_LOG")"
# ... and an audience "-" from none: '-' stands for none.
expect_status 200 "" "/v1/token?aud=-"
expect_status 400 bad_request "/v1/token?ttl=5"
# An empty field says nothing wherever it stands; an empty name with a
# value is still a parameter no one knows.
for q in "&aud=e" "aud=e&&ttl=5" "aud=e&" "&&aud=e&&"; do
        expect_status 200 "" "/v1/token?$q"
        [ "$(claims "$(jq -r .token <<<"$BODY")" | jq -r .aud)" = e ] || fail "?$q: $BODY"
done
expect_status 400 bad_request "/v1/token?aud=e&=x"
expect_status 400 bad_request "/v1/token?aud=e&="
expect_status 400 bad_request "/v1/token?&"
# ... and so is a name without '=': not an empty field
expect_status 400 bad_request "/v1/token?aud=e&ttl"
[[ "$BODY" == *"query parameter ttl needs a value"* ]] || fail "?aud=e&ttl: $BODY"
# Empty fields count towards the 8 parameters a request may carry
expect_status 200 "" "/v1/token?&&&&&&&aud=e"
expect_status 400 bad_request "/v1/token?&&&&&&&&aud=e"
[[ "$BODY" == *"too many query parameters"* ]] || fail "9 fields: $BODY"
grep -q "mint sub=.* aud='\\\\x2d' " "$AGENT_LOG" ||
        fail "audience '-' logged as: $(grep -o "mint .* aud='[^ ]*" "$AGENT_LOG" | tail -1)"
grep -q "refused reason=bad_request aud='-' .*the aud query parameter is required" "$AGENT_LOG" ||
        fail "no audience logged as: $(grep bad_request "$AGENT_LOG" | tail -1)"
# ... and DEL, the last byte that is no printable ASCII, as \x7f.
expect_status 400 bad_request "/v1/token?aud=a%7Fb"
grep -qF "refused reason=bad_request aud='a\x7fb'" "$AGENT_LOG" ||
        fail "an audience with DEL logged as: $(grep bad_request "$AGENT_LOG" | tail -1 | cat -v)"
expect_status 404 not_found "/v1/nope"
expect_status 404 not_found "/v1/token/x?aud=x"
expect_status 404 not_found "/"
# 405 and its Allow are for a resource that exists: other methods on no
# endpoint are a 404 too
expect_status 404 not_found "/nope" -X POST
expect_status 404 not_found "/v1/token/" -X DELETE
expect_status 405 method_not_allowed "/v1/token?aud=x" -X POST
expect_status 405 method_not_allowed "/v1/token?aud=x" -X DELETE
expect_status 405 method_not_allowed "/v1/health" -X POST
expect_status 405 "" "/v1/token?aud=x" -I
# The absolute form of a target, as sent to a proxy, is its path here;
# one with no host is no http URI.
expect_status 200 "" "/" --request-target "http://proxied/v1/token?aud=absolute"
[ "$(claims "$(jq -r .token <<<"$BODY")" | jq -r .aud)" = absolute ] || fail "absolute form: $BODY"
expect_status 200 "" "/" --request-target "HTTP://x/v1/health"
expect_status 405 method_not_allowed "/" --request-target "http://x/v1/jwks" -X POST
expect_status 404 not_found "/" --request-target "http://x/v1/nope"
expect_status 404 not_found "/" --request-target "http://x"
expect_status 404 not_found "/" --request-target "https://x/v1/health"
expect_status 400 bad_request "/" --request-target "http:///v1/health"
# Allow names what the resource takes: no HEAD on /v1/token.
allow_of() { curl -s -o /dev/null -D - --unix-socket "$SOCK" "$@" | tr -d '\r' | sed -n 's/^Allow: //Ip'; }
[ "$(allow_of -I "http://localhost/v1/token?aud=x")" = GET ] || fail "HEAD /v1/token: Allow $(allow_of -I "http://localhost/v1/token?aud=x")"
[ "$(allow_of -X POST "http://localhost/v1/token?aud=x")" = GET ] || fail "POST /v1/token: wrong Allow"
[ "$(allow_of -X POST "http://localhost/v1/jwks")" = "GET, HEAD" ] || fail "POST /v1/jwks: wrong Allow"
expect_status 200 "" "/v1/health" -I
expect_status 413 too_large "/v1/token?aud=x" --data-binary hello -X GET
ok "errors"

check "svcid token, --json, exec and jwks"
TOK=$("$CLI" token -a cli-aud) || fail "svcid token failed"
[ "$(claims "$TOK" | jq -r .aud)" = cli-aud ] || fail "svcid token aud"
"$CLI" token -a x --ttl 30 --json >"$T/tj" || fail "svcid token --json"
[ "$(jq -r '.expires_at - now | floor' "$T/tj" 2>/dev/null || echo 0)" -le 30 ] || fail "--ttl 30 not honoured"
jq -e '.token | length > 100' "$T/tj" >/dev/null || fail "--json has no token"
[ "$(jq -r .sub "$T/tj")" = "$ME" ] || fail "--json has no sub"
OUT=$("$CLI" exec -a exec-aud -- sh -c 'printf %s "$SVCID_TOKEN"') || fail "svcid exec failed"
[ "$(claims "$OUT" | jq -r .aud)" = exec-aud ] || fail "svcid exec token aud"
OUT=$("$CLI" exec -a e --env MY_TOK -- sh -c 'printf %s "${MY_TOK:-}"') || fail "svcid exec --env failed"
[ "$(claims "$OUT" | jq -r .aud)" = e ] || fail "svcid exec --env"
"$CLI" exec -a e -- sh -c 'exit 7' && fail "exec did not pass the exit code" || [ $? = 7 ] || fail "exec exit code"
# a token already in the environment is replaced, not passed on
OUT=$(SVCID_TOKEN=stale "$CLI" exec -a exec-aud -- sh -c 'printf %s "$SVCID_TOKEN"') ||
        fail "svcid exec over an inherited value failed"
[ "$(claims "$OUT" | jq -r .aud)" = exec-aud ] || fail "svcid exec left the inherited value: $OUT"
# options end at CMD: its own (here sh's -c) are not svcid's, even without --
OUT=$("$CLI" exec -a e sh -c 'printf %s "$SVCID_TOKEN"') || fail "svcid exec CMD -c without --"
[ "$(claims "$OUT" | jq -r .aud)" = e ] || fail "svcid exec CMD -c without --: $OUT"
# descriptors its caller closed reach CMD closed, not as svcid's stand-ins
OUT=$("$CLI" exec -a e -- sh -c '[ -e /proc/self/fd/0 ] && echo 0-open || echo 0-closed' <&-) || fail "exec with stdin closed"
[ "$OUT" = 0-closed ] || fail "exec with stdin closed: CMD saw: $OUT"
"$CLI" jwks >"$T/j" || fail "svcid jwks failed"
rc=0; "$CLI" jwks >/dev/full 2>"$T/jerr" || rc=$?
[ $rc = 1 ] && grep -q "svcid: jwks: cannot write to standard output: No space left on device" "$T/jerr" ||
        fail "svcid jwks to a full disk: exit $rc, $(cat "$T/jerr")"
[ "$(jq -cS . "$T/j")" = "$(jq -cS . "$STATE/jwks.json")" ] || fail "svcid jwks differs from jwks.json"
# A send or receive on the agent's connection that fails (EIO, injected
# by strace) is named, not taken for an agent that hung up; a reset or a
# broken pipe still is one.
if command -v strace >/dev/null && strace -f -o /dev/null true 2>/dev/null; then
        for c in "sendto EIO Send failure: Input/output error" "recvfrom EIO Recv failure: Input/output error" \
                 "sendto EPIPE closed the connection without answering" \
                 "recvfrom ECONNRESET closed the connection without answering"; do
                read -r sc e want <<< "$c"
                rc=0
                # (LeakSanitizer cannot work under strace: SANITIZE=1 builds)
                ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -q -o /dev/null -e trace="$sc" -e inject="$sc:error=$e:when=1" \
                        timeout 20 "$CLI" token -a x >/dev/null 2>"$T/err" || rc=$?
                [ $rc = 1 ] || fail "svcid token, $sc failing with $e: exit $rc"
                case $want in
                closed*) grep -qx "svcid: token: the agent at $SOCK $want" "$T/err" ;;
                *) grep -qx "svcid: token: talking to the agent at $SOCK: $want" "$T/err" ;;
                esac || fail "svcid token, $sc failing with $e: $(cat "$T/err")"
        done
else
        echo "note: strace missing or cannot trace here; a failed send or receive is not checked"
fi
# The running agent's next getsockopt() is the SO_PEERCRED of the next
# connection: made to fail (ENOBUFS, by strace attached to the agent), its
# token request is refused, and the log says the call failed and why.
if command -v strace >/dev/null && strace -f -o /dev/null true 2>/dev/null; then
        strace -f -q -o /dev/null -p "$AGENT_PID" -e trace=getsockopt -e inject=getsockopt:error=ENOBUFS:when=1 &
        STRACE_PID=$!
        # every thread: the one that accepts the connection may be any
        untraced() { grep -l '^TracerPid:[[:space:]]*0$' /proc/"$AGENT_PID"/task/*/status 2>/dev/null; }
        for _ in $(seq 100); do
                [ -z "$(untraced)" ] && break
                sleep 0.1
        done
        if [ -z "$(untraced)" ]; then
                expect_status 403 peer_gone "/v1/token?aud=x"
                kill -INT "$STRACE_PID"; wait "$STRACE_PID" || true
                grep -qx "svcid-agent: error: the credentials of a connection cannot be read, refusing it: No buffer space available" \
                        "$AGENT_LOG" || fail "an unreadable SO_PEERCRED: $(tail -n 3 "$AGENT_LOG")"
                expect_status 200 "" "/v1/token?aud=x"
        else
                kill -INT "$STRACE_PID" 2>/dev/null; wait "$STRACE_PID" || true
                echo "note: strace cannot attach to the agent here; an unreadable SO_PEERCRED is not checked"
        fi
fi
set +e
"$CLI" token 2>/dev/null; [ $? = 2 ] || fail "token without -a must exit 2"
"$CLI" token -a x --ttl 0 2>/dev/null; [ $? = 2 ] || fail "token --ttl 0 must exit 2"
"$CLI" exec -a x 2>/dev/null; [ $? = 2 ] || fail "exec without a command must exit 2"
"$CLI" exec -a x --env 1BAD -- true 2>/dev/null; [ $? = 2 ] || fail "exec --env 1BAD must exit 2"
"$CLI" exec -a x -- "$T/no-such-command" 2>/dev/null; [ $? = 127 ] || fail "exec of a missing command must exit 127"
: > "$T/not-executable"
"$CLI" exec -a x -- "$T/not-executable" 2>"$T/err"; [ $? = 126 ] || fail "exec of a non-executable file must exit 126"
grep -qx "svcid: exec: $T/not-executable: Permission denied" "$T/err" ||
        fail "exec of a non-executable file: $(cat "$T/err")"
# a script whose #! line names no file (here with a CR after it): not
# found, as a shell has it, but not said of the script, which is there
printf '#!/bin/sh\r\necho hi\n' > "$T/crlf-script"
chmod +x "$T/crlf-script"
"$CLI" exec -a x -- "$T/crlf-script" 2>"$T/err"; [ $? = 127 ] || fail "exec of a script without its interpreter must exit 127"
grep -qx "svcid: exec: $T/crlf-script: cannot run it: the interpreter (#! line) or loader it names is missing" "$T/err" ||
        fail "exec of a script without its interpreter: $(cat "$T/err")"
# a name without a '/' is looked up in PATH, not here: not found, even
# with a file of that name in the working directory
cli=$(realpath "$CLI")
(cd "$T" && "$cli" exec -a x -- crlf-script 2>"$T/err"); [ $? = 127 ] || fail "exec of a name not in PATH must exit 127"
grep -qx "svcid: exec: crlf-script: No such file or directory" "$T/err" ||
        fail "exec of a name not in PATH, with such a file here: $(cat "$T/err")"
"$CLI" token -a 'a b' 2>"$T/err"; [ $? = 2 ] || fail "token with a bad aud must exit 2"
grep -qx "svcid: token: -a 'a b': the audience must be 1 to 255 printable ASCII characters without spaces" "$T/err" ||
        fail "an aud with a space: $(cat "$T/err")"
SVCID_AGENT_SOCKET=$T/none.sock "$CLI" token -a x 2>"$T/err"; [ $? = 1 ] || fail "no agent must exit 1"
grep -q "No such file" "$T/err" || fail "no agent message: $(cat "$T/err")"
SVCID_AGENT_SOCKET=$T/none.sock "$CLI" jwks 2>/dev/null; [ $? = 1 ] || fail "jwks without agent must exit 1"
# something that speaks no HTTP at the socket: named as such, exit 1
"$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept(); c.recv(1000); c.sendall(b"SVCID1 ERR malformed\n"); c.close()
' "$T/not-http.sock" &
for i in $(seq 50); do [ -S "$T/not-http.sock" ] && break; sleep 0.1; done
SVCID_AGENT_SOCKET=$T/not-http.sock "$CLI" token -a x 2>"$T/err"; [ $? = 1 ] || fail "a socket not HTTP must exit 1"
grep -q "^svcid: token: $T/not-http.sock answered with something that is not HTTP: is it svcid-agent's socket?" "$T/err" ||
        fail "a socket not HTTP: $(cat "$T/err")"
wait $! || fail "the not-HTTP listener failed"
# an agent that answers a token with no sub, then one longer than
# stdio's buffer: --json cannot say whose the first is, and says it does
# not decode; the second, written to a full disk, fails as a write does,
# and so does a JWKS longer than stdio's buffer (an RSA agent's after a
# few rotations)
"$PY" -c '
import base64, json, socket, sys
b64 = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(3)
jwks = {"iss": "svcid://fake", "keys": [{"kty": "RSA", "kid": "k%d" % i, "n": "n" * 342, "e": "AQAB"} for i in range(16)]}
for payload in ({"aud": "x"}, {"sub": "x", "aud": "x", "pad": "p" * 5000}, None):
    body = json.dumps({"token": b64({"alg": "ES256"}) + "." + b64(payload) + ".AAAA", "expires_at": 1} if payload else jwks).encode()
    c, _ = s.accept(); c.recv(1000)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    c.close()
' "$T/fake.sock" &
BG_PIDS+=("$!")
for i in $(seq 50); do [ -S "$T/fake.sock" ] && break; sleep 0.1; done
SVCID_AGENT_SOCKET=$T/fake.sock "$CLI" token -a x --json 2>"$T/err"; [ $? = 1 ] || fail "a token without sub, --json: must exit 1"
grep -qx "svcid: token: the agent's token does not decode" "$T/err" || fail "a token without sub, --json: $(cat "$T/err")"
SVCID_AGENT_SOCKET=$T/fake.sock "$CLI" token -a x >/dev/full 2>"$T/err"; [ $? = 1 ] || fail "a long token to a full disk: must exit 1"
grep -qx "svcid: token: cannot write to standard output: No space left on device" "$T/err" ||
        fail "a long token to a full disk: $(cat "$T/err")"
SVCID_AGENT_SOCKET=$T/fake.sock "$CLI" jwks >/dev/full 2>"$T/err"; [ $? = 1 ] || fail "a long JWKS to a full disk: must exit 1"
grep -qx "svcid: jwks: cannot write to standard output: No space left on device" "$T/err" ||
        fail "a long JWKS to a full disk: $(cat "$T/err")"
wait $! || fail "the fake agent failed"
"$CLI" token --help | grep -q "svcid token" || fail "token --help"
set -e
ok "cli"

check "a second agent on the same socket or state dir refuses to start"
set +e
timeout 20 "$AGENT" --config "$T/empty.conf" --state-dir "$T/other" --socket "$SOCK" --log-target=stderr 2>"$T/err2"
rc=$?
set -e
[ $rc -ne 0 ] || fail "second agent on a live socket started"
grep -q "already answers" "$T/err2" || fail "message: $(cat "$T/err2")"
[ ! -e "$T/other" ] || fail "the agent refused on a live socket made its state directory $T/other"
set +e
timeout 20 "$AGENT" --config "$T/empty.conf" --state-dir "$STATE" --socket "$T/other.sock" --log-target=stderr 2>"$T/err2"
rc=$?
set -e
[ $rc -ne 0 ] || fail "second agent on the same state dir started"
grep -q "in use" "$T/err2" || fail "message: $(cat "$T/err2")"
[ -e "$T/other.sock" ] && fail "refused agent left its socket behind"
ok "refusals"

# The agent (a copy: the build tree may be closed to other users) run as
# nobody on the socket $1 and the state directory $T/perm/state, until it
# exits (20 s at most): its stderr in $T/err2, its exit status in $rc.
install -m 0755 "$AGENT" "$T/agent-copy"
agent_as_nobody_on() {
        chmod 0711 "$T"
        set +e
        setpriv --reuid=nobody --regid=nogroup --clear-groups timeout 20 "$T/agent-copy" --config "$T/empty.conf" \
                --state-dir "$T/perm/state" --socket "$1" --log-target=stderr 2>"$T/err2"
        rc=$?
        set -e
        chmod 0700 "$T"
}

check "a socket this agent may not connect to is not taken for a stale one"
# Its own directory, but a live listener's socket it has no right to
# write (EACCES, not ECONNREFUSED): an agent running as nobody leaves it
# alone and does not start.
mkdir -m 0755 "$T/perm"
chown nobody "$T/perm"
"$PY" -c '
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o600); s.listen(1)
open(sys.argv[1] + ".ready", "w").close()
time.sleep(60)' "$T/perm/agent.sock" &
PERM_PID=$!
BG_PIDS+=("$PERM_PID")
for i in $(seq 1 100); do [ -e "$T/perm/agent.sock.ready" ] && break; sleep 0.1; done
INO=$(stat -c %i "$T/perm/agent.sock")
agent_as_nobody_on "$T/perm/agent.sock"
kill "$PERM_PID" 2>/dev/null || true
[ $rc = 1 ] || fail "an agent that may not connect to a live socket exited $rc, not 1: $(cat "$T/err2")"
[ "$(stat -c %i "$T/perm/agent.sock" 2>/dev/null)" = "$INO" ] || fail "the live listener's socket was replaced"
grep -q "$T/perm/agent.sock: Permission denied" "$T/err2" || fail "message: $(cat "$T/err2")"
[ ! -e "$T/perm/state" ] || fail "the agent refused on a live socket made its state directory"
ok "not stale"

check "a stale socket the agent may not remove: it says why and does not start"
# root's directory, which the agent running as nobody may use but not
# write: the socket is stale (nobody may connect, no one listens), and
# unlink() fails
mkdir -m 0755 "$T/rootdir"
"$PY" -c 'import os, socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777)' \
        "$T/rootdir/agent.sock"
agent_as_nobody_on "$T/rootdir/agent.sock"
[ $rc = 1 ] || fail "an agent that may not remove a stale socket exited $rc, not 1: $(cat "$T/err2")"
grep -qF "error: cannot remove the stale socket $T/rootdir/agent.sock: Permission denied" "$T/err2" ||
        fail "message: $(cat "$T/err2")"
[ -S "$T/rootdir/agent.sock" ] || fail "the stale socket went"
[ ! -e "$T/perm/state" ] || fail "the agent that could not take its socket made its state directory"
ok "refused, saying why"

check "no other process of the agent's user reads its memory (no core file, no ptrace)"
# The signing keys are in the agent's memory. Run as nobody, its /proc
# entries are root's, and a process of nobody's may not read them, as it
# may those of its own sleep.
mkdir -m 0755 "$T/nd"
chown nobody "$T/nd"
chmod 0711 "$T"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$T/agent-copy" --config "$T/empty.conf" \
        --state-dir "$T/nd/state" --socket "$T/nd/agent.sock" --log-target=stderr 2>"$T/nd.log" &
ND_PID=$!
BG_PIDS+=("$ND_PID")
setpriv --reuid=nobody --regid=nogroup --clear-groups sleep 60 &
SLEEP_PID=$!
BG_PIDS+=("$SLEEP_PID")
wait_for_socket "$T/nd/agent.sock" || fail "the agent run as nobody did not answer: $(cat "$T/nd.log")"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
# setpriv is root's, then no one's to read until it has become sleep
for _ in $(seq 100); do
        [ "$(stat -c %u "/proc/$SLEEP_PID/environ" 2>/dev/null)" = "$(id -u nobody)" ] && break
        sleep 0.1
done
as_nobody cat "/proc/$SLEEP_PID/environ" > /dev/null || fail "nobody cannot read its own sleep's environment"
if as_nobody cat "/proc/$ND_PID/environ" > /dev/null 2>&1; then fail "nobody read the agent's environment"; fi
if as_nobody head -c1 "/proc/$ND_PID/mem" > /dev/null 2>&1; then fail "nobody opened the agent's memory"; fi
[ "$(stat -c %u "/proc/$ND_PID/environ")" = 0 ] || fail "the agent's /proc entries are not root's"
kill "$SLEEP_PID" 2>/dev/null || true
stop_agent "$ND_PID" "$T/nd.log"
chmod 0700 "$T"
ok "its /proc entries are root's; nobody's other processes cannot read them"

check "an agent that stops leaves alone the socket another agent has put in place of its own"
# Its socket removed by hand, a second agent binds the path anew: the
# first one, stopping, must not remove the second one's socket.
"$AGENT" --config "$T/empty.conf" --state-dir "$T/rep1" --socket "$T/rep.sock" --log-target=stderr 2>>"$T/rep.log" &
REP1=$!
BG_PIDS+=("$REP1")
wait_for_socket "$T/rep.sock" || fail "the first agent did not answer: $(cat "$T/rep.log")"
rm "$T/rep.sock"
"$AGENT" --config "$T/empty.conf" --state-dir "$T/rep2" --socket "$T/rep.sock" --log-target=stderr 2>>"$T/rep.log" &
REP2=$!
BG_PIDS+=("$REP2")
wait_for_socket "$T/rep.sock" || fail "the second agent did not answer: $(cat "$T/rep.log")"
stop_agent "$REP1" "$T/rep.log"
[ -S "$T/rep.sock" ] || fail "the first agent removed the second one's socket as it stopped"
wait_for_socket "$T/rep.sock" || fail "the second agent's socket no longer answers"
stop_agent "$REP2" "$T/rep.log"
[ ! -e "$T/rep.sock" ] || fail "the second agent left its socket"
ok "the other agent's socket stays"

check "the reuse cache is bounded: past 1024 tokens it starts over"
# A token for 'first', then 1024 for other audiences: the cache, full,
# started over, and 'first' gets a new token, well within its reuse window.
printf '[agent]\ntoken_reuse = 300\n' > "$T/cap.conf"
"$AGENT" --config "$T/cap.conf" --state-dir "$T/cap" --socket "$T/cap.sock" --log-target=stderr 2>>"$T/cap.log" &
CAP_PID=$!
BG_PIDS+=("$CAP_PID")
wait_for_socket "$T/cap.sock" || fail "the agent did not answer: $(cat "$T/cap.log")"
"$PY" - "$T/cap.sock" > "$T/cap.out" <<'PYEOF'
import http.client, json, socket, sys
class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX); self.sock.settimeout(20); self.sock.connect(sys.argv[1])
def jti(aud):
    c = Conn("localhost"); c.request("GET", "/v1/token?aud=%s&ttl=3600" % aud)
    r = c.getresponse(); body = json.loads(r.read()); c.close()
    assert r.status == 200, body
    p = body["token"].split(".")[1]
    return json.loads(__import__("base64").urlsafe_b64decode(p + "=" * (-len(p) % 4)))["jti"]
first = jti("first")
assert jti("first") == first, "not reused at once"
for i in range(1024):
    jti("other-%d" % i)
print(first, jti("first"))
PYEOF
read -r J1 J2 < "$T/cap.out" || fail "the requests failed: $(cat "$T/cap.out")"
[ -n "$J2" ] && [ "$J1" != "$J2" ] || fail "the token for 'first' was still reused after 1024 others: $J1 $J2"
stop_agent "$CAP_PID" "$T/cap.log"
ok "bounded"

check "SIGINT stops the agent as SIGTERM does"
"$AGENT" --config "$T/empty.conf" --state-dir "$T/int" --socket "$T/int.sock" --log-target=stderr 2>>"$T/int.log" &
INT_PID=$!
BG_PIDS+=("$INT_PID")
wait_for_socket "$T/int.sock" || fail "the agent did not answer: $(cat "$T/int.log")"
kill -INT "$INT_PID"
for i in $(seq 1 300); do kill -0 "$INT_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$INT_PID" 2>/dev/null && fail "the agent did not stop on SIGINT"
rc=0; wait "$INT_PID" || rc=$?
[ $rc = 0 ] || fail "the agent exited $rc after SIGINT"
[ ! -e "$T/int.sock" ] || fail "socket left after SIGINT"
grep -q "svcid-agent: stopping" "$T/int.log" || fail "no 'stopping' after SIGINT: $(cat "$T/int.log")"
ok "SIGINT"

check "a socket path of 108 bytes, one more than sun_path holds with its NUL, is refused"
LONG_SOCK=$T/$(printf 's%.0s' $(seq 1 $((107 - ${#T}))))
[ ${#LONG_SOCK} = 108 ] || fail "test bug: the path is ${#LONG_SOCK} bytes"
set +e
timeout 20 "$AGENT" --config "$T/empty.conf" --state-dir "$T/long" --socket "$LONG_SOCK" --log-target=stderr 2>"$T/err2"
rc=$?
set -e
[ $rc = 1 ] || fail "a 108-byte socket path: exit $rc, not 1: $(cat "$T/err2")"
grep -qF "socket path '$LONG_SOCK' is 108 bytes, the limit is 107" "$T/err2" || fail "a 108-byte socket path: $(cat "$T/err2")"
[ ! -e "$T/long" ] && [ ! -e "$LONG_SOCK" ] || fail "a 108-byte socket path: the agent made its state or socket"
ok "too long"

check "stop: SIGTERM removes the socket; restart keeps the key and republishes a JWKS others cannot read; a stale socket is replaced"
KID=$(jq -r '.keys[0].kid' "$STATE/jwks.json")
stop_agent
chmod 0600 "$STATE/jwks.json"   # a backup restored under umask 077, say
[ -e "$SOCK" ] && fail "socket left after SIGTERM"
"$PY" -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$SOCK"
[ -S "$SOCK" ] || fail "could not make a stale socket"
start_agent a -
[ "$(jq -r '.keys[0].kid' "$STATE/jwks.json")" = "$KID" ] || fail "restart changed the key"
[ "$(stat -c %a "$STATE/jwks.json")" = 644 ] || fail "jwks.json left $(stat -c %a "$STATE/jwks.json") by a restart"
get_token x
"$CLI" verify -a x --trust "$STATE/jwks.json" "$TOK" >/dev/null || fail "verify after restart"
stop_agent
: > "$T/plain"
set +e
timeout 20 "$AGENT" --config "$T/empty.conf" --state-dir "$STATE" --socket "$T/plain" --log-target=stderr 2>"$T/err2"
rc=$?
set -e
[ $rc -ne 0 ] || fail "agent replaced a regular file with its socket"
[ -f "$T/plain" ] || fail "regular file was removed"
ok "restart"

notify_listen

# ro_agent DIR SOCKET LOG: an agent (empty policy) on DIR bound read-only,
# in a mount namespace of its own, in the background ($!).
ro_agent() {
        unshare -m sh -c 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"' sh \
                "$1" "$AGENT" --config "$T/empty.conf" --state-dir "$1" --socket "$2" --log-target=stderr 2>>"$3" &
}

check "a read-only state directory whose keys and JWKS are good: the agent starts and serves"
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
        # A mount namespace of its own, where the state dir is bound read-only.
        # The signing key is still under its new name, as a crash just
        # before its rename leaves it: it signs from there.
        before=$(sha256sum <"$STATE/jwks.json")
        RO_KID=$(jq -r '.keys[0].kid' "$STATE/jwks.json")
        mv "$STATE/keys/$RO_KID.pem" "$STATE/keys/$RO_KID.new"
        NOTIFY_SOCKET=$T/notify.sock ro_agent "$STATE" "$T/ro.sock" "$T/ro.log"
        RO_PID=$!
        BG_PIDS+=("$RO_PID")
        wait_for_socket "$T/ro.sock" || { cat "$T/ro.log"; fail "no agent on a read-only state directory"; }
        tok=$(SVCID_AGENT_SOCKET=$T/ro.sock "$CLI" token -a ro) || fail "no token from the read-only agent"
        "$CLI" verify -a ro --trust "$STATE/jwks.json" "$tok" >/dev/null ||
                fail "its token does not verify with the JWKS on disk"
        [ "$(sha256sum <"$STATE/jwks.json")" = "$before" ] || fail "jwks.json changed"
        grep -qF "warning: keys/$RO_KID.new: cannot rename it to $RO_KID.pem: Read-only file system" \
                "$T/ro.log" || fail "the rename it could not make: $(cat "$T/ro.log")"
        # /v1/health says so too, while the key signs on
        curl -s --unix-socket "$T/ro.sock" http://localhost/v1/health >"$T/ro.health"
        jq -e --arg k "$RO_KID" --arg w "key update unfinished, retrying every 10 s: in $STATE: keys/$RO_KID.new: cannot rename it to $RO_KID.pem: Read-only file system;" \
                '.status == "ok" and .kid == $k and (.warning | startswith($w))' "$T/ro.health" >/dev/null ||
                fail "health on a read-only state directory: $(cat "$T/ro.health")"
        # and STATUS= names the key that signs, then the same warning
        wait_notify "^STATUS=signing with kid $RO_KID (ES256), 1 key(s) published; key update unfinished, retrying every 10 s: in $STATE: keys/$RO_KID.new: cannot rename"
        [ "$(grep -c "cannot rename it to $RO_KID.pem" "$T/ro.log")" = 1 ] ||
                fail "the failed rename is not logged once: $(cat "$T/ro.log")"
        # a rotation cannot be written: the step named is the file it
        # could not create (there is no leftover to remove)
        rc=0; "$AGENT" --rotate "$RO_PID" --socket "$T/ro.sock" 2>"$T/ro.rot" || rc=$?
        [ $rc = 1 ] || fail "--rotate on a read-only state directory: exit $rc, $(cat "$T/ro.rot")"
        grep -q "writing a new key in keys/: creating \.[A-Za-z0-9_-]*\.new\.tmp: Read-only file system" "$T/ro.rot" ||
                fail "--rotate on a read-only state directory: $(cat "$T/ro.rot")"
        stop_agent "$RO_PID" "$T/ro.log"
        # writable again: the next start gives the key its name
        start_agent a -
        curl -s --unix-socket "$SOCK" http://localhost/v1/health >"$T/rw.health"
        jq -e '.status == "ok" and (has("warning") | not)' "$T/rw.health" >/dev/null ||
                fail "health once the rename is made: $(cat "$T/rw.health")"
        [ -f "$STATE/keys/$RO_KID.pem" ] && [ ! -e "$STATE/keys/$RO_KID.new" ] || fail "$RO_KID.new not renamed"
        stop_agent
        ok "served, from the keys and JWKS on disk"
else
        echo "note: not root: a read-only state directory is not tried"
fi

check "a read-only state directory named in another encoding, or long: /v1/health answers with the whole warning"
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
        # ro_unfinished DIR: keys made in DIR, the signing one left as
        # KID.new, then an agent on DIR bound read-only; its /v1/health in
        # $T/ro2.health
        ro_unfinished() {
                local dir=$1 kid pid i AGENT_LOG=$T/ro2.log
                mkdir -p "$(dirname "$dir")"
                "$AGENT" --config "$T/empty.conf" --state-dir "$dir" --socket "$T/ro2.sock" --log-target=stderr \
                        2>>"$AGENT_LOG" &
                pid=$!
                BG_PIDS+=("$pid")
                wait_for_socket "$T/ro2.sock" || fail "no agent on $dir"
                stop_agent "$pid" "$AGENT_LOG"
                kid=$(jq -r '.keys[0].kid' "$dir/jwks.json")
                mv "$dir/keys/$kid.pem" "$dir/keys/$kid.new"
                ro_agent "$dir" "$T/ro2.sock" "$AGENT_LOG"
                pid=$!
                BG_PIDS+=("$pid")
                # (not wait_for_socket: /v1/health is what is tried)
                for i in $(seq 1 300); do
                        curl -sf --unix-socket "$T/ro2.sock" http://localhost/v1/jwks >/dev/null 2>&1 && break
                        sleep 0.1
                done
                curl -sf --unix-socket "$T/ro2.sock" http://localhost/v1/health >"$T/ro2.health" ||
                        fail "no answer from /v1/health on $dir"
                stop_agent "$pid" "$AGENT_LOG"
                jq -e --arg k "$kid" '.status == "ok" and .kid == $k and
                        (.warning | startswith("key update unfinished, retrying every 10 s: ") and
                         endswith(": keys/" + $k + ".new: cannot rename it to " + $k + ".pem: Read-only file " +
                                  "system; the key signs from it as it is, but a state.json restored from a " +
                                  "backup would take it for a leftover"))' "$T/ro2.health" >/dev/null ||
                        fail "health on $dir: $(cat "$T/ro2.health")"
        }
        ro_unfinished "$T/lat$(printf '\351')n"       # ISO 8859-1
        grep -qF "in $T/lat?n: keys/" "$T/ro2.health" || fail "the directory's name: $(cat "$T/ro2.health")"
        e100=$(printf '\303\251%.0s' $(seq 1 100))      # 100 e-acute, 200 bytes
        ro_unfinished "$T/long/$e100/$e100/$e100"
        ok "both answered, each with the whole warning"
else
        echo "note: not root: a read-only state directory is not tried"
fi

check "stop: a connection accepted before SIGTERM still gets its answer"
# Under systemd the socket outlives the agent, so callers that connect
# during a restart wait in its queue for the next agent; a caller the
# stopping agent had already accepted must be answered, not cut off.
# The agent takes the caller's pidfd when it accepts: that is the sign.
start_agent a -
"$PY" - "$SOCK" "$AGENT_PID" >"$T/drain.out" <<'EOF'
import os, signal, socket, sys, time
path, pid = sys.argv[1], int(sys.argv[2])
def pidfds():
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[pidfd]"
        except OSError:
            pass
    return n
before = pidfds()
s = socket.socket(socket.AF_UNIX)
s.connect(path)
deadline = time.monotonic() + 20
while pidfds() == before:
    if time.monotonic() > deadline:
        sys.exit("the agent never accepted the connection")
    time.sleep(0.01)
os.kill(pid, signal.SIGTERM)
time.sleep(0.3)
s.settimeout(20)
data = b""
try:
    s.sendall(b"GET /v1/token?aud=drain HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    while chunk := s.recv(65536):
        data += chunk
except OSError as e:
    print("error", e)
print(data.split(b"\r\n")[0].decode() if data else "no answer")
EOF
grep -qx 'HTTP/1.1 200 OK' "$T/drain.out" || fail "request sent after SIGTERM on an accepted connection: $(cat "$T/drain.out")"
stop_agent
grep -q "^svcid-agent: mint .* aud='drain' " "$AGENT_LOG" || fail "the drained request is not in the audit log"
ok "drain"

check "a key state that others can read, or a state directory others could write, is refused"
chmod 0755 "$STATE/keys"
set +e
"$AGENT" --config "$T/empty.conf" --state-dir "$STATE" --socket "$T/x.sock" --log-target=stderr 2>"$T/err2"
rc=$?
set -e
[ $rc -ne 0 ] || fail "agent started with keys/ 0755"
grep -q "mode 0700" "$T/err2" || fail "message: $(cat "$T/err2")"
chmod 0700 "$STATE/keys"
# Whoever can write the state directory, or one above it, could move keys/
# or state.json away, or put another jwks.json where verifiers look. A
# state directory still to be made is refused the same way, and not left
# behind, made, where the agent will not use it. A sticky bit does for a
# directory above, not for the state directory itself: others could put a
# jwks.json or .jwks.json.tmp there first.
mkdir -m 0755 "$T/above"
mv "$STATE" "$T/above/state"
for case in "state $T/above 0777" "state $T/above/state 0775" "state $T/above/state 1777" "new $T/above 0777"; do
        read -r sd dir mode <<<"$case"
        chmod "$mode" "$dir"
        set +e
        timeout 20 "$AGENT" --config "$T/empty.conf" --state-dir "$T/above/$sd" --socket "$T/x.sock" \
                --log-target=stderr 2>"$T/err2"
        rc=$?
        set -e
        [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "agent started with $dir mode $mode"
        grep -q "^svcid-agent: error: $T/above/$sd: directory \"$dir\" is writable by group or others (mode $mode)" "$T/err2" ||
                fail "message: $(cat "$T/err2")"
        chmod 0755 "$dir"
done
[ ! -e "$T/above/new" ] || fail "the refused state directory $T/above/new was made"
# Root on a state directory another user owns (the package's is svcid's):
# refused, with whom to run the agent as instead.
chown nobody "$T/above/state"
set +e
timeout 20 "$AGENT" --config "$T/empty.conf" --state-dir "$T/above/state" --socket "$T/x.sock" \
        --log-target=stderr 2>"$T/err2"
rc=$?
set -e
chown 0 "$T/above/state"
[ $rc = 1 ] || fail "root's agent on a state directory nobody owns exited $rc: $(cat "$T/err2")"
grep -qF "directory \"$T/above/state\" is owned by uid $(id -u nobody), who could replace what is in it; run the agent as its owner (runuser -u nobody -- svcid-agent)" "$T/err2" ||
        fail "message: $(cat "$T/err2")"
mv "$T/above/state" "$STATE"
ok "permissions"

check "usage errors: exit 2, what is wrong, and where help is"
for args in "--bogus" "-x" "--state-dir relative/dir" "--log-target=syslog" "--config" "stray-argument" \
            "--c" $'--\e[31m' $'stray\e' "-d $T/usage-state --state-dir=$T/usage-state2" "--config $T/none.conf -c $T/none.conf"; do
        set +e
        # shellcheck disable=SC2086 # split on purpose
        # (--socket first: an agent that took the bad option would not
        # reach for the host's default socket; and it would serve, so
        # the timeout. The options given twice name no host path.)
        timeout 20 "$AGENT" --socket "$T/usage.sock" $args >"$T/out2" 2>"$T/err2"; rc=$?
        set -e
        [ $rc -eq 2 ] || fail "svcid-agent $args: exit $rc, not 2"
        [ ! -s "$T/out2" ] || fail "svcid-agent $args wrote to stdout: $(cat "$T/out2")"
        [ "$(wc -l <"$T/err2")" -le 2 ] || fail "svcid-agent $args: more than a short message: $(cat "$T/err2")"
        # the option as given, but printable
        case $args in
        # a value given twice: not the last silently
        -d*) want="option '--state-dir' (-d) is given twice; it takes one value" ;;
        --config\ *) want="option '--config' (-c) is given twice; it takes one value" ;;
        --state-dir*) want="--state-dir needs an absolute path" ;;
        --log-target*) want="--log-target must be auto, journal or stderr" ;;
        stray-*) want="unexpected argument 'stray-argument'" ;;
        stray*) want="unexpected argument 'stray?'" ;;
        --bogus) want="unknown option '--bogus'" ;;
        -x) want="unknown option '-x'" ;;
        --config) want="option '--config' needs a value" ;;
        --c) want="option '--c' is ambiguous" ;;
        *) want="unknown option '--?[31m'" ;;
        esac
        grep -qxF -- "svcid-agent: $want" "$T/err2" || fail "svcid-agent $args: not '$want': $(cat "$T/err2")"
        grep -qx "Try 'svcid-agent --help'." "$T/err2" || fail "svcid-agent $args: no pointer to --help"
done
# an empty value, which the loop above cannot give
for args in "--socket $T/usage.sock --config" "--state-dir $T/usage-state --socket"; do
        set +e
        # shellcheck disable=SC2086 # split on purpose
        timeout 20 "$AGENT" $args '' >"$T/out2" 2>"$T/err2"; rc=$?
        set -e
        want="--config needs a file name"; [[ $args == *--socket ]] && want="--socket needs a path"
        [ $rc -eq 2 ] && grep -qxF -- "svcid-agent: $want" "$T/err2" ||
                fail "svcid-agent $args '': exit $rc, not 2 and '$want': $(cat "$T/err2")"
done
"$AGENT" --help | grep -q "^Usage: svcid-agent" || fail "--help"
"$AGENT" --version | grep -qx "svcid-agent [0-9][0-9.]*" || fail "--version"
ok "usage errors"

check "an explicitly named config file that is missing is an error"
set +e
"$AGENT" --config "$T/none.conf" --check-config 2>"$T/err2"; rc=$?
set -e
[ $rc -ne 0 ] || fail "--check-config of a missing file passed"
grep -qF "$T/none.conf: No such file or directory" "$T/err2" || fail "--check-config of a missing file: $(cat "$T/err2")"
"$AGENT" --config "$T/nodir/agent.conf" --check-config 2>"$T/err2" && fail "--check-config in a missing directory passed"
grep -qF "$T/nodir/agent.conf: directory \"$T/nodir\": No such file or directory" "$T/err2" ||
        fail "--check-config in a missing directory: $(cat "$T/err2")"
# a FIFO is refused at once, not waited on
mkfifo "$T/fifo.conf"
set +e
timeout 20 "$AGENT" --config "$T/fifo.conf" --check-config 2>"$T/err3"; rc=$?
set -e
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "--check-config of a FIFO: exit $rc"
grep -q "fifo.conf: not a regular file" "$T/err3" || fail "--check-config of a FIFO: $(cat "$T/err3")"
ok "a missing file, a missing directory and a FIFO are errors that name them"

check "claim.* never names a registered claim, in any case: a Sub beside the sub is refused"
# Go's encoding/json fills a "sub" field from "Sub" as well, the last one
# winning: a policy claim "Sub" would name another subject to such a reader.
printf '[agent]\nanonymous = deny\n[account cs]\nuser = %s\nclaim.subject = s\nclaim.Units = u\n' "$MYUID" > "$T/cs.conf"
start_agent cs "$T/cs.conf"
get_token x
C=$(claims "$TOK")
[ "$(jq -c '[.sub, .subject, .Units]' <<<"$C")" = '["cs","s","u"]' ] || fail "claims merely like registered ones: $C"
for name in Sub SUB sUb Iss AUD Iat Exp NBF Jti UID Gid Unit UNIT; do
        printf '[agent]\nanonymous = deny\n[account cs]\nuser = %s\nclaim.%s = root\n' "$MYUID" "$name" > "$T/cs-bad.conf"
        "$AGENT" --config "$T/cs-bad.conf" --check-config 2>"$T/err" && fail "claim.$name accepted"
        grep -qF "$T/cs-bad.conf:5: bad claim name '$name'" "$T/err" || fail "claim.$name: $(cat "$T/err")"
done
# An account name too long for inih's section header says the limit
printf '[account %s]\nuser = root\n' "$(head -c 41 /dev/zero | tr '\0' a)" > "$T/cs-bad.conf"
"$AGENT" --config "$T/cs-bad.conf" --check-config 2>"$T/err" && fail "a 41-character account name accepted"
grep -qF "$T/cs-bad.conf:1: section name too long (at most 48 characters between the brackets: an account's name is at most 40)" "$T/err" ||
        fail "a 41-character account name: $(cat "$T/err")"
printf '[account %s]\nuser = root\n' "$(head -c 40 /dev/zero | tr '\0' a)" > "$T/cs-ok.conf"
"$AGENT" --config "$T/cs-ok.conf" --check-config >/dev/null 2>"$T/err" || fail "a 40-character account name refused: $(cat "$T/err")"
# Two claims of one account that such a reader would take for one another
for pair in "role Role" "team.x TEAM.X" "a-b A-b"; do
        set -- $pair
        printf '[account cs]\nuser = %s\nclaim.%s = 1\nclaim.x = 2\nclaim.%s = 3\n' "$MYUID" "$1" "$2" > "$T/cs-bad.conf"
        "$AGENT" --config "$T/cs-bad.conf" --check-config 2>"$T/err" && fail "claim.$1 beside claim.$2 accepted"
        grep -qF "$T/cs-bad.conf:5: 'claim.$1' and 'claim.$2' differ only in case" "$T/err" || fail "claim.$1, claim.$2: $(cat "$T/err")"
done
printf '[account cs]\nuser = %s\nclaim.role = 1\n[account ds]\nuser = root\nclaim.Role = 2\n' "$MYUID" > "$T/cs-ok.conf"
"$AGENT" --config "$T/cs-ok.conf" --check-config >/dev/null 2>"$T/err" || fail "claim.role and claim.Role of two accounts refused: $(cat "$T/err")"
# ... and a reload to it keeps the old policy
printf '[agent]\nanonymous = deny\n[account cs]\nuser = %s\nclaim.UNIT = root\n' "$MYUID" > "$T/cs-bad.conf"
cp "$T/cs-bad.conf" "$T/cs.conf"
"$AGENT" --reload "$AGENT_PID" --socket "$SOCK" 2>/dev/null && fail "--reload to claim.UNIT succeeded"
grep -qF "reload: $T/cs.conf:5: bad claim name 'UNIT'" "$AGENT_LOG" || fail "reload to claim.UNIT: $(tail -n 3 "$AGENT_LOG")"
get_token y
[ "$(claims "$TOK" | jq -c 'keys - ["aud","exp","gid","iat","iss","jti","sub","uid"]')" = '["Units","subject"]' ] ||
        fail "after the refused reload: $(claims "$TOK")"
stop_agent
ok "registered claim names refused whatever their case, and claims that differ only in case"

check "an account an earlier one always matches first is warned of as never used"
# A warning where that is sure (the same user, or none; the same unit glob, '*', or none)
while IFS='|' read -r first second warned; do
        printf '[account a]\n%b\n[account b]\n%b\n' "$first" "$second" > "$T/sh.conf"
        "$AGENT" --config "$T/sh.conf" --check-config >/dev/null 2>"$T/err" ||
                fail "shadowing: '$first' then '$second' refused: $(cat "$T/err")"
        if [ "$warned" = yes ]; then
                grep -qF "$T/sh.conf:3: [account b] is never used: [account a] (line 1) comes first" "$T/err" ||
                        fail "no warning for '$second' after '$first': $(cat "$T/err")"
        elif grep -q "never used" "$T/err"; then
                fail "a warning for '$second' after '$first': $(cat "$T/err")"
        fi
done <<'EOF_SHADOW'
user = root|user = root|yes
user = 0|user = 0\nunit = x.service|yes
unit = *|user = root\nunit = x.service|yes
unit = x.service|user = daemon\nunit = x.service|yes
user = root\nunit = x.service|user = root|no
unit = *|user = root|no
user = root|user = daemon|no
unit = x.service|unit = y.service|no
user = root\nunit = x.service|unit = x.service|no
EOF_SHADOW
ok "four sure shadowings warned of, five accounts that may match callers the earlier one does not left alone"

check "a '#' after a claim's value is part of it, with a warning that names file:line"
printf '[account cs]\nuser = %s\nclaim.stage = deploy # prod\nclaim.ticket = T#5 ; a comment\n' "$MYUID" > "$T/hash.conf"
"$AGENT" --config "$T/hash.conf" --check-config 2>"$T/err" || fail "--check-config: $(cat "$T/err")"
grep -qF "$T/hash.conf:3: the value of 'claim.stage' holds ' #'" "$T/err" || fail "no warning: $(cat "$T/err")"
[ "$(grep -c "holds ' #'" "$T/err")" = 1 ] || fail "a '#' with no space before it warned: $(cat "$T/err")"
start_agent hash "$T/hash.conf"
grep -qF "$T/hash.conf:3: the value of 'claim.stage' holds ' #'" "$AGENT_LOG" || fail "no warning at start"
get_token x
[ "$(claims "$TOK" | jq -c '[.stage, .ticket]')" = '["deploy # prod","T#5"]' ] || fail "claims: $(claims "$TOK")"
stop_agent
ok "warned"

check "a '#' after state_dir's value is part of the path, with a warning too"
printf '[agent]\nstate_dir = %s/sd # the keys\n' "$T" > "$T/hash-sd.conf"
"$AGENT" --config "$T/hash-sd.conf" --check-config 2>"$T/err" || fail "--check-config: $(cat "$T/err")"
grep -qF "$T/hash-sd.conf:2: the value of 'state_dir' holds ' #'" "$T/err" || fail "no warning: $(cat "$T/err")"
# a tab is as much a space there
printf '[agent]\nstate_dir = %s/sd\t# the keys\n' "$T" > "$T/hash-sd.conf"
"$AGENT" --config "$T/hash-sd.conf" --check-config 2>"$T/err" || fail "--check-config: $(cat "$T/err")"
grep -qF "$T/hash-sd.conf:2: the value of 'state_dir' holds ' #'" "$T/err" || fail "no warning for a tab: $(cat "$T/err")"
printf '[agent]\nstate_dir = %s/sd#1\n' "$T" > "$T/hash-sd.conf"
"$AGENT" --config "$T/hash-sd.conf" --check-config 2>"$T/err" || fail "--check-config: $(cat "$T/err")"
grep -qF "holds ' #'" "$T/err" && fail "a '#' with no space before it warned: $(cat "$T/err")"
ok "warned"

check "sd_notify: READY=1, STATUS= with the active kid, WATCHDOG=1, RELOADING=1, STOPPING=1"
: >"$T/notify.log"     # only this agent's
printf '[agent]\n' > "$T/n.conf"
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=1000000 start_agent n "$T/n.conf"
wait_notify '^READY=1'
# wait_notify_count PATTERN N: N lines match PATTERN, in time. Each reload,
# good or failed, is RELOADING=1 and then READY=1 again, or systemd
# would wait in "reloading" until its timeout.
wait_notify_count() {
        local i
        for i in $(seq 1 200); do [ "$(grep -c "$1" "$T/notify.log")" -ge "$2" ] && return 0; sleep 0.05; done
        fail "not $2 lines '$1' from sd_notify: $(cat "$T/notify.log")"
}
wait_notify "^STATUS=signing with kid $(jq -r '.keys[0].kid' "$STATE/jwks.json")"
wait_notify '^WATCHDOG=1'
# A reload that fails stays in STATUS= until one succeeds.
printf '[agent]\nalgorithm = nope\n' > "$T/n.conf"
kill -HUP "$AGENT_PID"
wait_notify '^RELOADING=1'
wait_notify_count '^READY=1' 2
wait_notify "^STATUS=signing with kid .*; the last reload failed: $T/n.conf:2: unknown algorithm 'nope'.* (the old policy runs)"
# and says it in printable ASCII, whatever bytes the file holds
printf '[agent]\nalgorithm = n\xc3\xb6\xffpe\n' > "$T/n.conf"
kill -HUP "$AGENT_PID"
wait_notify "^STATUS=signing with kid .*; the last reload failed: $T/n.conf:2: unknown algorithm 'n???pe'.* (the old policy runs)"
printf '[agent]\nalgorithm = EdDSA\n' > "$T/n.conf"
statuses=$(grep -c '^STATUS=' "$T/notify.log")
kill -HUP "$AGENT_PID"
for _ in $(seq 1 200); do [ "$(grep -c '^STATUS=' "$T/notify.log")" -gt "$statuses" ] && break; sleep 0.05; done
[ "$(grep -c '^STATUS=' "$T/notify.log")" -gt "$statuses" ] || fail "no STATUS= after a good reload"
wait_notify_count '^RELOADING=1' 3
wait_notify_count '^READY=1' 4
if grep '^STATUS=' "$T/notify.log" | tail -1 | grep -q "reload failed"; then
        fail "STATUS= after a good reload: $(grep '^STATUS=' "$T/notify.log" | tail -1)"
fi
grep -q "reload: the algorithm changes from ES256 to EdDSA: .*SIGUSR2" "$AGENT_LOG" ||
        fail "an algorithm change is not explained: $(grep reload "$AGENT_LOG")"
stop_agent
wait_notify '^STOPPING=1'
unset NOTIFY_SOCKET
ok "notifications"

if command -v systemd-socket-activate >/dev/null; then
        check "started by systemd-socket-activate: curl and svcid token work"
        SOCK=$T/ssa.sock
        systemd-socket-activate -l "$SOCK" --fdname=agent "${SSA_ENV[@]}" \
                "$AGENT" --config "$T/empty.conf" --state-dir "$T/ssa" --log-target=stderr 2>>"$T/ssa.log" &
        BG_PIDS+=("$!")
        SSA_PID=$!
        for i in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
        chmod 666 "$SOCK"
        export SVCID_AGENT_SOCKET=$SOCK
        wait_for_socket "$SOCK" || fail "socket-activated agent did not answer"
        get_token ssa
        "$CLI" verify -a ssa --trust "$T/ssa/jwks.json" "$TOK" >/dev/null || fail "socket-activated token does not verify"
        "$CLI" verify -a ssa2 --trust "$T/ssa/jwks.json" "$("$CLI" token -a ssa2)" >/dev/null || fail "svcid token via socket activation"
        grep -q "the socket from systemd" "$T/ssa.log" || fail "agent did not use the passed socket: $(cat "$T/ssa.log")"
        stop_agent "$SSA_PID" "$T/ssa.log"
        [ -S "$SOCK" ] || fail "the agent removed systemd's socket"
        ok "socket activation"

        check "a socket from systemd that is not a listening stream socket is refused"
        # A unit with ListenDatagram= by mistake: the agent says so and
        # exits, rather than serve on it.
        # (-s: were it to take no socket from systemd, not the default one)
        systemd-socket-activate --datagram -l "$T/dgram.sock" "${SSA_ENV[@]}" \
                "$AGENT" --config "$T/empty.conf" --state-dir "$T/dgram" --socket "$T/dgram-own.sock" \
                --log-target=stderr 2>"$T/dgram.log" &
        DGRAM_PID=$!
        BG_PIDS+=("$DGRAM_PID")
        for i in $(seq 1 100); do [ -S "$T/dgram.sock" ] && break; sleep 0.1; done
        "$PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"x", sys.argv[1])' \
                "$T/dgram.sock"
        for i in $(seq 1 200); do kill -0 "$DGRAM_PID" 2>/dev/null || break; sleep 0.1; done
        kill "$DGRAM_PID" 2>/dev/null || true
        rc=0; wait "$DGRAM_PID" || rc=$?
        [ $rc = 1 ] || fail "an agent given a datagram socket exited $rc, not 1: $(cat "$T/dgram.log")"
        grep -q "error: the socket from systemd is not a listening AF_UNIX stream socket" "$T/dgram.log" ||
                fail "an agent given a datagram socket: $(cat "$T/dgram.log")"
        [ ! -e "$T/dgram" ] || fail "an agent given a datagram socket made its state directory"
        ok "datagram socket refused"

        check "a stopped agent leaves systemd's socket listening for the next one"
        # As systemd does: one listening socket, held across a restart of
        # the service (systemctl restart, a package upgrade); a caller
        # connecting while no agent runs waits in its queue.
        "$PY" - "$T/held.sock" "$AGENT" "$T/empty.conf" "$T/held" >"$T/held.out" 2>>"$T/held.log" <<'EOF'
import os, signal, socket, subprocess, sys, time
path, agent, conf, state = sys.argv[1:5]
lsock = socket.socket(socket.AF_UNIX)
lsock.bind(path)
os.chmod(path, 0o666)
lsock.listen(64)

def start():
    def child():
        if lsock.fileno() != 3:
            os.dup2(lsock.fileno(), 3)
        os.set_inheritable(3, True)
        os.environ.update(LISTEN_FDS="1", LISTEN_FDNAMES="agent", LISTEN_PID=str(os.getpid()))
    # LISTEN_PID is set in the child, so the environment is passed whole
    return subprocess.Popen([agent, "--config", conf, "--state-dir", state, "--log-target=stderr"],
                            preexec_fn=child, close_fds=False)

def ask(c, aud):
    c.sendall(f"GET /v1/token?aud={aud} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := c.recv(65536):
        data += chunk
    return data.split(b"\r\n")[0].decode() if data else "no answer"

def fresh(aud):
    c = socket.socket(socket.AF_UNIX)
    c.settimeout(20)
    c.connect(path)
    return ask(c, aud)

a = start()
print("first:", fresh("held1"))     # queued until the agent is up
a.send_signal(signal.SIGTERM)
print("first exit:", a.wait(timeout=30))
try:
    waiting = socket.socket(socket.AF_UNIX)
    waiting.settimeout(20)
    waiting.connect(path)
except OSError as e:
    print("between:", e)
    sys.exit(0)
b = start()
try:
    print("queued:", ask(waiting, "held2"))
    print("second:", fresh("held3"))
finally:
    b.send_signal(signal.SIGTERM)
    print("second exit:", b.wait(timeout=30))
EOF
        want='first: HTTP/1.1 200 OK
first exit: 0
queued: HTTP/1.1 200 OK
second: HTTP/1.1 200 OK
second exit: 0'
        [ "$(cat "$T/held.out")" = "$want" ] || fail "restart on a held socket: $(cat "$T/held.out") $(tail -5 "$T/held.log")"
        ok "restart on a held socket"
else
        echo "note: systemd-socket-activate not installed, socket activation not tested"
fi
check "sockets from systemd it cannot count: the agent says why and does not start"
# LISTEN_PID its own, LISTEN_FDS no number: sd_listen_fds() fails
rc=0
LISTEN_FDS=x timeout 20 sh -c 'LISTEN_PID=$$ exec "$@"' sh "$AGENT" --config "$T/empty.conf" \
        --state-dir "$T/badfds" --socket "$T/badfds.sock" --log-target=stderr 2>"$T/badfds.log" || rc=$?
[ $rc = 1 ] || fail "an agent given LISTEN_FDS=x exited $rc, not 1: $(cat "$T/badfds.log")"
grep -qF "error: the sockets from systemd (LISTEN_FDS): Invalid argument" "$T/badfds.log" ||
        fail "an agent given LISTEN_FDS=x: $(cat "$T/badfds.log")"
[ ! -e "$T/badfds.sock" ] && [ ! -e "$T/badfds" ] || fail "an agent given LISTEN_FDS=x bound or made something"
ok "refused, saying why"

if command -v systemd-socket-activate >/dev/null; then
        check "started by its socket with a bad policy, the agent stays and answers 503 until it comes up"
        # Exiting would have systemd start it again for the same waiting
        # caller until its start limit stops the socket too.
        printf '[agent]\ndefault_ttl = 9999\n' > "$T/down.conf"
        SOCK=$T/down.sock
        systemd-socket-activate -l "$SOCK" "${SSA_ENV[@]}" -E NOTIFY_SOCKET="$T/notify.sock" \
                "$AGENT" --config "$T/down.conf" --state-dir "$T/down" --log-target=stderr 2>>"$T/down.log" &
        BG_PIDS+=("$!")
        DOWN_PID=$!
        for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
        for i in 1 2 3; do
                expect_status 503 unavailable "/v1/token?aud=x"
                jq -r .message <<<"$BODY" | grep -q "^the agent is not up: it could not start (its log says why)" ||
                        fail "request $i: $BODY"
        done
        expect_status 503 unavailable /v1/jwks
        http /v1/health
        [ "$STATUS" = 503 ] && [ "$(jq -r .status <<<"$BODY")" = not_up ] || fail "health while not up: $STATUS $BODY"
        grep -q "down.conf:2: default_ttl must be between 1 and 3600, not '9999'; answering 503, and trying again every 10 s" "$T/down.log" ||
                fail "the cause is not logged: $(cat "$T/down.log")"
        wait_notify "^STATUS=not up: $T/down.conf:2: default_ttl must be between 1 and 3600, not '9999'; trying again every 10 s"
        [ "$(grep -c '^STATUS=not up' "$T/notify.log")" = 1 ] || fail "STATUS= for the first cause: $(cat "$T/notify.log")"
        [ "$(grep -c '^Execing' "$T/down.log")" = 1 ] || fail "the agent did not stay: $(cat "$T/down.log")"
        [ ! -e "$T/down" ] || fail "a state directory was made before the policy loaded"
        # Another cause (an unusable state directory): logged once, and
        # the agent keeps trying on its own, without a signal.
        printf '[agent]\ndefault_ttl = 60\nstate_dir = relative\n' > "$T/down.conf"
        kill -HUP "$DOWN_PID"
        for _ in $(seq 1 100); do grep -q "state_dir" "$T/down.log" && break; sleep 0.1; done
        [ "$(grep -c "state_dir" "$T/down.log")" = 1 ] || fail "the second cause: $(cat "$T/down.log")"
        wait_notify "^STATUS=not up: .*state_dir.*; trying again every 10 s and on a reload (SIGHUP)"
        # A reload that fails for the same cause still answers whoever
        # asked for it, in the log.
        kill -HUP "$DOWN_PID"
        for _ in $(seq 1 100); do grep -q "reload: .*state_dir" "$T/down.log" && break; sleep 0.1; done
        [ "$(grep -c "state_dir" "$T/down.log")" = 2 ] || fail "a reload that failed again: $(cat "$T/down.log")"
        printf '[agent]\ndefault_ttl = 60\n' > "$T/down.conf"
        for _ in $(seq 1 300); do grep -q "serving on the socket from systemd" "$T/down.log" && break; sleep 0.1; done
        grep -q "serving on the socket from systemd" "$T/down.log" || fail "not up 30 s after the file was fixed: $(cat "$T/down.log")"
        for _ in $(seq 1 100); do grep '^STATUS=' "$T/notify.log" | tail -1 | grep -q '^STATUS=signing with kid' && break; sleep 0.05; done
        grep '^STATUS=' "$T/notify.log" | tail -1 | grep -q '^STATUS=signing with kid' ||
                fail "STATUS= once up: $(grep '^STATUS=' "$T/notify.log" | tail -1)"
        [ "$(grep -c "state_dir" "$T/down.log")" = 2 ] || fail "a cause logged at every try: $(cat "$T/down.log")"
        get_token x
        [ "$(claims "$TOK" | jq -r '.exp - .iat')" = 60 ] || fail "not the fixed policy: $(claims "$TOK")"
        stop_agent "$DOWN_PID" "$T/down.log"
        # STATUS= in printable ASCII, whatever bytes the cause quotes
        systemd-socket-activate -l "$T/down2.sock" "${SSA_ENV[@]}" -E NOTIFY_SOCKET="$T/notify.sock" \
                "$AGENT" --config "$T/empty.conf" --state-dir "/proc/sv$(printf '\351')cid" --log-target=stderr \
                2>>"$T/down2.log" &
        BG_PIDS+=("$!")
        DOWN_PID=$!
        for _ in $(seq 1 100); do [ -S "$T/down2.sock" ] && break; sleep 0.1; done
        curl -s --max-time 20 --unix-socket "$T/down2.sock" http://localhost/v1/health >/dev/null || true
        wait_notify "^STATUS=not up: .*/proc/sv?cid.*; trying again every 10 s"
        stop_agent "$DOWN_PID" "$T/down2.log"
        ok "503 three times; a second cause logged once, and again on a reload; up on its own once the file was fixed"
fi

check "SIGHUP and SIGUSR2 while the agent makes its first key wait for it to start"
# The socket exists before the keys: an RSA-3072 key takes a while to make.
printf '[agent]\nalgorithm = RS256\n' > "$T/rsa.conf"
"$AGENT" --config "$T/rsa.conf" --state-dir "$T/early" --socket "$T/early.sock" --log-target=stderr 2>>"$T/early.log" &
EARLY_PID=$!
BG_PIDS+=("$EARLY_PID")
for _ in $(seq 1 400); do [ -S "$T/early.sock" ] && break; sleep 0.01; done
[ -S "$T/early.sock" ] || fail "the agent made no socket: $(cat "$T/early.log")"
kill -HUP "$EARLY_PID"
kill -USR2 "$EARLY_PID"
wait_for_socket "$T/early.sock" || fail "the agent did not survive signals while starting: $(cat "$T/early.log")"
for _ in $(seq 1 200); do grep -q "forced key rotation" "$T/early.log" && grep -q reloaded "$T/early.log" && break; sleep 0.05; done
grep -q reloaded "$T/early.log" && grep -q "forced key rotation" "$T/early.log" ||
        fail "the reload and the rotation asked for while starting did not happen: $(cat "$T/early.log")"
stop_agent "$EARLY_PID" "$T/early.log"
ok "started, then reloaded and rotated"
check "--reload PID returns once the agent has reloaded, and says why one failed"
printf '[agent]\ndefault_ttl = 60\n' > "$T/rl.conf"
start_agent rl "$T/rl.conf"
RL_PID=$AGENT_PID
http /v1/health
[ "$(jq -c .last_reload <<<"$BODY")" = '{"monotonic_ns":0}' ] || fail "/v1/health before a reload: $BODY"
printf '[agent]\ndefault_ttl = 120\n' > "$T/rl.conf"
"$AGENT" --reload "$RL_PID" --socket "$SOCK" >"$T/rl.out" 2>&1 || fail "--reload of a good file: $(cat "$T/rl.out")"
[ ! -s "$T/rl.out" ] || fail "--reload that worked said something: $(cat "$T/rl.out")"
# no wait: the new policy is in force when --reload returns
get_token x
[ "$(claims "$TOK" | jq -r '.exp - .iat')" = 120 ] || fail "the policy right after --reload: $(claims "$TOK")"
http /v1/health
jq -e '.last_reload.monotonic_ns > 0 and (.last_reload | has("error") | not)' <<<"$BODY" >/dev/null ||
        fail "/v1/health after a reload: $BODY"
# two at once: their signals may merge into one reload, which serves both
"$AGENT" --reload "$RL_PID" --socket "$SOCK" 2>"$T/rl1.err" & r1=$!
"$AGENT" --reload "$RL_PID" --socket "$SOCK" 2>"$T/rl2.err" & r2=$!
wait "$r1" || fail "the first of two --reloads at once: $(cat "$T/rl1.err")"
wait "$r2" || fail "the second of two --reloads at once: $(cat "$T/rl2.err")"
printf '[agent]\nbogus = 1\n' > "$T/rl.conf"
rc=0; "$AGENT" --reload "$RL_PID" --socket "$SOCK" 2>"$T/rl.err" || rc=$?
[ "$rc" = 1 ] || fail "--reload of a bad file: exit $rc"
grep -qxF "svcid-agent: reload: $T/rl.conf:2: unknown key 'bogus' in [agent] (the old policy runs)" "$T/rl.err" ||
        fail "--reload of a bad file: $(cat "$T/rl.err")"
get_token x
[ "$(claims "$TOK" | jq -r '.exp - .iat')" = 120 ] || fail "the policy after a refused --reload: $(claims "$TOK")"
if [ "$(id -u)" = 0 ]; then
        # a user who may not signal the agent is told who may
        chmod 0711 "$T"
        rc=0; setpriv --reuid=nobody --regid=nogroup --clear-groups timeout 20 "$T/agent-copy" --reload "$RL_PID" \
                --socket "$SOCK" 2>"$T/rl.err" || rc=$?
        chmod 0700 "$T"
        [ "$rc" = 1 ] && grep -qxF "svcid-agent: reload: cannot signal pid $RL_PID: Operation not permitted (run this as root or as the agent's user)" "$T/rl.err" ||
                fail "--reload by nobody: exit $rc, $(cat "$T/rl.err")"
fi
for args in "--reload x" "--reload 0" "--reload $RL_PID --config $T/rl.conf" "--reload $RL_PID --check-config" \
            "--reload $RL_PID --state-dir $T/rl" "--rotate $RL_PID --reload $RL_PID" "--rotate -5"; do
        # shellcheck disable=SC2086 # the words of args
        rc=0; timeout 20 "$AGENT" $args 2>"$T/rl.err" || rc=$?
        [ "$rc" = 2 ] && grep -q "^Try 'svcid-agent --help'" "$T/rl.err" || fail "$args: exit $rc, $(cat "$T/rl.err")"
done
# A stand-in for the agent's socket: each answer in turn from the JSON
# list in $T/answers.json, the last one again and again, from the first
# once the list changes. What answers on a socket given with --socket is
# not always the agent.
"$PY" - "$T/fake-health.sock" "$T/answers.json" 2>"$T/fake-health.log" <<'PYEOF' &
import http.server, json, socketserver, sys
state = {"list": None, "n": 0}
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(sys.argv[2]) as f:
            answers = json.load(f)
        if answers != state["list"]:
            state["list"], state["n"] = answers, 0
        data = json.dumps(answers[min(state["n"], len(answers) - 1)]).encode()
        state["n"] += 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass
class Server(socketserver.UnixStreamServer):
    def get_request(self):
        return self.socket.accept()[0], ("local", 0)
Server(sys.argv[1], Health).serve_forever()
PYEOF
BG_PIDS+=("$!")
echo '[{"status": "ok"}]' > "$T/answers.json"
# bound before it listens: wait until it answers
for _ in $(seq 1 100); do curl -sf --unix-socket "$T/fake-health.sock" http://localhost/v1/health >/dev/null && break; sleep 0.05; done
# fake_reload PID ANSWERS: --reload PID asked on the stand-in; sets rc
fake_reload() {
        echo "$2" > "$T/answers.json"
        rc=0; "$AGENT" --reload "$1" --socket "$T/fake-health.sock" 2>"$T/rl.err" || rc=$?
}
last_reload() { http /v1/health; jq -r .last_reload.monotonic_ns <<<"$BODY"; }
# Refused before the agent is signalled: then nothing reaches it.
before=$(last_reload)
rc=0; "$AGENT" --reload $$ --socket "$SOCK" 2>"$T/rl.err" || rc=$?
[ "$rc" = 1 ] && grep -qF "reload: pid $$ is not svcid-agent (it is '$(cat /proc/$$/comm)')" "$T/rl.err" ||
        fail "--reload of a shell: exit $rc, $(cat "$T/rl.err")"
# pid 1 is an agent only in a namespace of its own (t_agent_abuse)
rc=0; "$AGENT" --reload 1 --socket "$SOCK" 2>"$T/rl.err" || rc=$?
[ "$rc" = 1 ] && grep -qF "reload: pid 1 is not svcid-agent (it is '$(cat /proc/1/comm)')" "$T/rl.err" ||
        fail "--reload of pid 1: exit $rc, $(cat "$T/rl.err")"
rc=0; "$AGENT" --reload "$RL_PID" --socket "$T/none.sock" 2>"$T/rl.err" || rc=$?
[ "$rc" = 1 ] && grep -qF "reload: cannot reach the agent at $T/none.sock: No such file or directory" "$T/rl.err" ||
        fail "--reload with no agent at the socket: exit $rc, $(cat "$T/rl.err")"
# $SVCID_AGENT_SOCKET is not read (the agent's own default is asked), and
# the error says so
if [ ! -e /run/svcid/agent.sock ]; then
        rc=0; SVCID_AGENT_SOCKET=$SOCK "$AGENT" --reload "$RL_PID" 2>"$T/rl.err" || rc=$?
        [ "$rc" = 1 ] && grep -q "^svcid-agent: reload: cannot reach the agent at /run/svcid/agent.sock: .*; \$SVCID_AGENT_SOCKET is not read here: give --socket PATH$" "$T/rl.err" ||
                fail "--reload with \$SVCID_AGENT_SOCKET: exit $rc, $(cat "$T/rl.err")"
fi
fake_reload "$RL_PID" '[{"status": "ok", "pid": 1, "now_monotonic_ns": 1, "last_reload": {"monotonic_ns": 0}}]'
[ "$rc" = 1 ] && grep -qxF "svcid-agent: reload: the agent at $T/fake-health.sock is pid 1, not $RL_PID" "$T/rl.err" ||
        fail "--reload of another agent's pid: exit $rc, $(cat "$T/rl.err")"
fake_reload "$RL_PID" '[{"status": "ok", "version": "0.0.9"}]'
[ "$rc" = 1 ] && grep -qF "reload: the agent at $T/fake-health.sock does not report its reloads and rotations" "$T/rl.err" ||
        fail "--reload of an agent that does not report: exit $rc, $(cat "$T/rl.err")"
sleep 0.5
[ "$(last_reload)" = "$before" ] || fail "the agent was signalled: $(tail -n 2 "$AGENT_LOG")"
# Whatever answers may send any bytes: the reason it gives is shown
# printable. (The real agent is signalled, and reloads.)
fake_reload "$RL_PID" '[{"status": "ok", "pid": '"$RL_PID"', "now_monotonic_ns": 5, "last_reload": {"monotonic_ns": 0}},
                        {"status": "ok", "pid": '"$RL_PID"', "now_monotonic_ns": 9, "last_reload": {"monotonic_ns": 6, "error": "bad\u001b[2Jbyte"}}]'
[ "$rc" = 1 ] && grep -qxF "svcid-agent: reload: bad?[2Jbyte" "$T/rl.err" && ! grep -q $'\e' "$T/rl.err" ||
        fail "--reload answered with a control byte: exit $rc, $(od -c "$T/rl.err" | head -n 6; cat "$T/fake-health.log")"
# A process that ends before it reports: a program named svcid-agent that
# SIGHUP ends.
cp "$(command -v sleep)" "$T/svcid-agent"
"$T/svcid-agent" 60 & dummy=$!
BG_PIDS+=("$dummy")
fake_reload "$dummy" '[{"status": "ok", "pid": '"$dummy"', "now_monotonic_ns": 5, "last_reload": {"monotonic_ns": 0}}]'
[ "$rc" = 1 ] && grep -qxF "svcid-agent: reload: the agent (pid $dummy) ended before it reported it done" "$T/rl.err" ||
        fail "--reload of an agent that ends: exit $rc, $(cat "$T/rl.err")"
stop_agent "$RL_PID" "$AGENT_LOG"
ok "a good file in force on return, two at once too; a bad one exit 1 with file:line, the old policy on; 7 usage errors; no signal to a shell, without an answer, to another agent's pid or one that does not report; a reason shown printable; an agent that ends"

if command -v systemd-socket-activate >/dev/null; then
        check "--reload of an agent that is not up returns once it is up, or says why it is not"
        # Its first key, RSA-3072, takes a while to make: a reload that
        # returned at once would leave /v1/health at 503 for that while.
        printf '[agent]\ndefault_ttl = 9999\n' > "$T/rld.conf"
        SOCK=$T/rld.sock
        systemd-socket-activate -l "$SOCK" "${SSA_ENV[@]}" \
                "$AGENT" --config "$T/rld.conf" --state-dir "$T/rld" --log-target=stderr 2>>"$T/rld.log" &
        BG_PIDS+=("$!")
        RLD_PID=$!
        for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
        http /v1/health
        [ "$STATUS" = 503 ] || fail "health with a bad policy: $STATUS $BODY"
        rc=0; "$AGENT" --reload "$RLD_PID" --socket "$SOCK" 2>"$T/rl.err" || rc=$?
        [ "$rc" = 1 ] && grep -qxF "svcid-agent: reload: $T/rld.conf:2: default_ttl must be between 1 and 3600, not '9999' (the agent is still not up)" "$T/rl.err" ||
                fail "--reload still not up: exit $rc, $(cat "$T/rl.err")"
        rc=0; "$AGENT" --rotate "$RLD_PID" --socket "$SOCK" 2>"$T/rl.err" || rc=$?
        [ "$rc" = 1 ] && grep -qxF "svcid-agent: rotate: the agent is not up: it has no key to rotate" "$T/rl.err" ||
                fail "--rotate not up: exit $rc, $(cat "$T/rl.err")"
        printf '[agent]\nalgorithm = RS256\n' > "$T/rld.conf"
        "$AGENT" --reload "$RLD_PID" --socket "$SOCK" 2>"$T/rl.err" || fail "--reload that brings it up: $(cat "$T/rl.err")"
        http /v1/health
        [ "$STATUS" = 200 ] && [ "$(jq -r .status <<<"$BODY")" = ok ] || fail "health right after --reload: $STATUS $BODY"
        stop_agent "$RLD_PID" "$T/rld.log"
        ok "still not up: exit 1 with the cause, and --rotate 1; brought up: up, with its RSA key, on return"
fi
echo "all agent basics passed"
