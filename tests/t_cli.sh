#!/bin/bash
# SPDX-License-Identifier: MIT
# The svcid command line, run for real: help and version, usage errors,
# verify against a JWKS made by an independent signer (Debian's PyJWT),
# stdin input, --now, and inspect. The big negative token corpus lives in
# tests/test_jwt.c; this only proves the CLI maps outcomes to exit codes
# and messages faithfully.
set -euo pipefail
umask 022   # as tests/run.sh: trust files must not be group-writable

: "${SVCID_BUILD:=$PWD/build}"
SVCID=$SVCID_BUILD/svcid
PY=/usr/bin/python3     # Debian's, with python3-jwt; not the one first on PATH

if [ ! -x "$SVCID" ]; then
        echo "t_cli: FAIL: $SVCID is not built" >&2
        exit 1
fi
if ! "$PY" -c 'import jwt, cryptography' 2>/dev/null; then
        echo "t_cli: skip: $PY lacks python3-jwt/python3-cryptography (apt-get install python3-jwt)"
        exit 77
fi

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
OUT=$T/out ERR=$T/err

fail() {
        echo "t_cli: FAIL: $*" >&2
        echo "--- stdout:" >&2; cat "$OUT" >&2 || true
        echo "--- stderr:" >&2; cat "$ERR" >&2 || true
        exit 1
}

# run WANT_RC DESCRIPTION CMD... — runs CMD, output into $OUT/$ERR, checks rc.
run() {
        local want=$1 what=$2 rc=0
        shift 2
        echo "check: $what"
        "$@" >"$OUT" 2>"$ERR" </dev/null || rc=$?
        [ "$rc" -eq "$want" ] || fail "$what: exit $rc, want $want"
}
# run_in WANT_RC DESCRIPTION INPUT_FILE CMD... — the same with stdin from a file.
run_in() {
        local want=$1 what=$2 in=$3 rc=0
        shift 3
        echo "check: $what"
        "$@" >"$OUT" 2>"$ERR" <"$in" || rc=$?
        [ "$rc" -eq "$want" ] || fail "$what: exit $rc, want $want"
}
has()     { grep -qF -- "$2" "$1" || fail "$(basename "$1") lacks '$2'"; }
first()   { [ "$(head -n1 "$1")" = "$2" ] || fail "$(basename "$1") does not start with the line '$2'"; }
empty()   { [ ! -s "$1" ] || fail "$(basename "$1") should be empty"; }
lacks()   { ! grep -qF -- "$2" "$1" || fail "$(basename "$1") contains '$2'"; }

# ---- an independent issuer: ES256 key, JWKS with "iss", tokens ----------
cat >"$T/mint.py" <<'PYEOF'
import json, os, sys
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
sys.path.insert(0, os.path.join(os.environ.get("SVCID_SRC", "."), "tests/interop"))
from testkeys import p256_jwk
cmd, d = sys.argv[1], sys.argv[2]
if cmd == "keygen":
    key = ec.generate_private_key(ec.SECP256R1())
    open(d + "/key.pem", "wb").write(key.private_bytes(serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    jwk = p256_jwk(key.public_key())   # kid: the RFC 7638 thumbprint, as the agent's
    json.dump({"iss": sys.argv[3], "keys": [jwk]}, open(d + "/issuer.jwks", "w"))
    open(d + "/kid", "w").write(jwk["kid"])
elif cmd == "token":
    key = serialization.load_pem_private_key(open(d + "/key.pem", "rb").read(), None)
    kid = open(d + "/kid").read()
    print(jwt.encode(json.loads(sys.argv[3]), key, algorithm="ES256", headers={"kid": kid}))
elif cmd == "get":   # get FILE KEY: a member of the JSON object in FILE
    print(json.load(open(d))[sys.argv[3]])
PYEOF
mkdir "$T/iss" "$T/other" "$T/trust.d" "$T/empty.d"
"$PY" "$T/mint.py" keygen "$T/iss" svcid://test.example
cp "$T/iss/issuer.jwks" "$T/trust.d/test.jwks"
JWKS=$T/iss/issuer.jwks
NOW=$(date +%s)
mint() { "$PY" "$T/mint.py" token "${2:-$T/iss}" "$1"; }
claims() { # claims IAT EXP AUD [extra json members]
        echo "{\"iss\":\"svcid://test.example\",\"sub\":\"deploy-bot\",\"aud\":\"$3\",\"iat\":$1,\"exp\":$2,\"jti\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"uid\":1000,\"gid\":1000${4:-}}"
}
VALID=$(mint "$(claims "$NOW" $((NOW + 300)) ci:build ',"roles":["deploy","restart"]')")
EXPIRED_AT=$((NOW - 7200))
EXPIRED=$(mint "$(claims $EXPIRED_AT $((EXPIRED_AT + 300)) ci:build)")

# ---- top level ----------------------------------------------------------
run 0 "--help lists every subcommand" "$SVCID" --help
for c in token exec verify jwks connect inspect; do has "$OUT" "  $c "; done
first "$OUT" "Usage: svcid COMMAND [ARGS...]"
empty "$ERR"
run 0 "-h is --help" "$SVCID" -h
has "$OUT" "svcid verify -a AUD"
run 2 "no arguments: usage on stderr, exit 2" "$SVCID"
has "$ERR" "Usage: svcid COMMAND"
empty "$OUT"
run 0 "--version" "$SVCID" --version
[ "$(cat "$OUT")" = "svcid 0.1.0" ] || fail "--version printed '$(cat "$OUT")'"
run 2 "unknown command" "$SVCID" frobnicate
has "$ERR" "svcid: unknown command 'frobnicate'"
has "$ERR" "svcid --help"
run 2 "unknown top-level option" "$SVCID" --frob
has "$ERR" "svcid: unknown option '--frob'"
# what the user typed is quoted, but printable
run 2 "an unknown command with an escape" "$SVCID" $'tok\e[2Jen'
has "$ERR" "svcid: unknown command 'tok?[2Jen'"
run 2 "an unknown top-level option with an escape" "$SVCID" $'--\e[2J'
has "$ERR" "svcid: unknown option '--?[2J'"
run 0 "help verify shows verify's options" "$SVCID" help verify
has "$OUT" "Usage: svcid verify"
has "$OUT" "--max-lifetime S"
run 0 "help inspect" "$SVCID" help inspect
has "$OUT" "Usage: svcid inspect"
run 2 "help for an unknown command" "$SVCID" help frobnicate
has "$ERR" "svcid: unknown command 'frobnicate'"
for h in --help -h; do
        run 0 "help $h is the usage" "$SVCID" help $h
        first "$OUT" "Usage: svcid COMMAND [ARGS...]"
done
run 0 "help alone is the usage" "$SVCID" help
first "$OUT" "Usage: svcid COMMAND [ARGS...]"
run 0 "help help is the usage" "$SVCID" help help
first "$OUT" "Usage: svcid COMMAND [ARGS...]"
for h in --help -h; do
        run 0 "$h verify is help verify" "$SVCID" $h verify
        has "$OUT" "Usage: svcid verify -a AUD"
        run 2 "$h for an unknown command" "$SVCID" $h frobnicate
        has "$ERR" "svcid: unknown command 'frobnicate'"
        empty "$OUT"
        run 2 "$h for two commands" "$SVCID" $h verify inspect
        has "$ERR" "svcid: help: give one command"
done
run 2 "--version with an argument" "$SVCID" --version extra
has "$ERR" "svcid: --version takes no arguments"
run 2 "help for two commands" "$SVCID" help verify inspect
has "$ERR" "svcid: help: give one command"
empty "$OUT"
run 0 "connect --help shows a bearer header that stays off command lines" "$SVCID" connect --help
has "$OUT" "printf 'Authorization: Bearer %s\n' \"\$(svcid token -a AUD)\" | curl -H @- URL"
run 2 "token: a stray argument is named" "$SVCID" token -a x extra
has "$ERR" "svcid: token: unexpected argument 'extra'"
run 2 "token: -a is required" "$SVCID" token
has "$ERR" "svcid: token: -a AUD is required"
run 2 "jwks: a stray argument is named" "$SVCID" jwks extra
has "$ERR" "svcid: jwks: unexpected argument 'extra'"
run 0 "verify --help" "$SVCID" verify --help
first "$OUT" "Usage: svcid verify -a AUD [--trust PATH]... [--issuer ISS] [--require CLAIM=GLOB]..."
run 0 "verify -h" "$SVCID" verify -h
has "$OUT" "--now UNIX"
# a token is a bearer credential, and any local user can read argv
run 0 "verify --help: standard input, not a TOKEN argument" "$SVCID" verify --help
has "$OUT" "Prefer standard input: any local user can read a command line."
run 0 "inspect --help: standard input, not a TOKEN argument" "$SVCID" inspect --help
has "$OUT" "still valid on standard input: any local user can read a command line."

# ---- verify: usage and configuration errors (exit 2) --------------------
run 2 "verify without -a" "$SVCID" verify --trust "$JWKS" "$VALID"
has "$ERR" "svcid: verify: -a AUD is required"
empty "$OUT"
run 2 "verify with an empty -a" "$SVCID" verify -a "" --trust "$JWKS" "$VALID"
has "$ERR" "svcid: verify: -a AUD: the audience must not be empty"
run 2 "verify -a without a value" "$SVCID" verify --trust "$JWKS" -a
has "$ERR" "svcid: verify: option '-a' needs a value"
run 2 "verify with an unknown option" "$SVCID" verify -a ci:build --frob "$VALID"
has "$ERR" "svcid: verify: unknown option '--frob'"
run 2 "verify with an unknown short option in a cluster" "$SVCID" verify -a ci:build -xq "$VALID"
has "$ERR" "svcid: verify: unknown option '-x'"
# a long option with its value in the same word just before it: still a short one
run 2 "an unknown short option after --leeway=5" "$SVCID" verify -a ci:build --leeway=5 -xq "$VALID"
has "$ERR" "svcid: verify: unknown option '-x'"
run 2 "verify --help=3" "$SVCID" verify --help=3
has "$ERR" "svcid: verify: option '--help=3' takes no value"
run 2 "verify with an unknown option holding an escape" "$SVCID" verify -a ci:build $'--fr\e[2Job' "$VALID"
has "$ERR" "svcid: verify: unknown option '--fr?[2Job'"
empty "$OUT"
run 2 "verify with two tokens" "$SVCID" verify -a ci:build --trust "$JWKS" "$VALID" "$VALID"
has "$ERR" "svcid: verify: too many arguments"
lacks "$ERR" "$VALID"
for bad in abc 12x "" -1 3601 " 5" +5 0x10 1.5 99999999999999999999; do
        run 2 "--leeway '$bad' is refused" "$SVCID" verify -a ci:build --trust "$JWKS" --leeway "$bad" "$VALID"
        has "$ERR" "svcid: verify: --leeway '$bad': expected whole seconds in [0, 3600]"
done
for bad in 0 86401 -5 7d ""; do
        run 2 "--max-lifetime '$bad' is refused" "$SVCID" verify -a ci:build --trust "$JWKS" --max-lifetime "$bad" "$VALID"
        has "$ERR" "svcid: verify: --max-lifetime '$bad'"
done
for bad in -1 now 1e9 "" 17000000000000; do
        run 2 "--now '$bad' is refused" "$SVCID" verify -a ci:build --trust "$JWKS" --now "$bad" "$VALID"
        has "$ERR" "svcid: verify: --now '$bad'"
done
# --now takes any time from the epoch to the end of year 9999
run 1 "--now 0: the token is issued after it" "$SVCID" verify -a ci:build --trust "$JWKS" --now 0 "$VALID"
has "$ERR" "svcid: rejected: issued_in_future: "
run 1 "--now the last second of year 9999" "$SVCID" verify -a ci:build --trust "$JWKS" --now 253402300799 "$VALID"
has "$ERR" "svcid: rejected: expired: "
run 2 "--now one second later" "$SVCID" verify -a ci:build --trust "$JWKS" --now 253402300800 "$VALID"
has "$ERR" "svcid: verify: --now '253402300800': expected a UNIX time (seconds since 1970, from 0 to 253402300799, the end of the year 9999)"
run 2 "an empty trust path is a usage error" "$SVCID" verify -a ci:build --trust '' "$VALID"
has "$ERR" "svcid: verify: --trust: the path must not be empty"
run 2 "the root directory as the trust path" "$SVCID" verify -a ci:build --trust / "$VALID"
has "$ERR" "cannot load trust: /: names the root directory, not an entry of a directory"
run 2 "a trust path that does not exist" "$SVCID" verify -a ci:build --trust "$T/nope.jwks" "$VALID"
has "$ERR" "svcid: verify: cannot load trust"
has "$ERR" "$T/nope.jwks"
# A FIFO opens only when a writer comes: the loader must refuse it at
# once, not wait (timeout turns a hang into exit 124).
mkfifo "$T/fifo.jwks"
run 2 "a FIFO as the trust file is refused, not waited on" \
        timeout 10 "$SVCID" verify -a ci:build --trust "$T/fifo.jwks" "$VALID"
has "$ERR" "svcid: verify: cannot load trust: $T/fifo.jwks: not a regular file"
mkdir "$T/fifo.d"
cp "$JWKS" "$T/fifo.d/a.jwks"
mkfifo "$T/fifo.d/b.jwks"
run 2 "a FIFO in a trust directory is refused, not waited on" \
        timeout 10 "$SVCID" verify -a ci:build --trust "$T/fifo.d" "$VALID"
has "$ERR" "svcid: verify: cannot load trust: $T/fifo.d/b.jwks: not a regular file"
rm "$T/fifo.d/b.jwks"
"$PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/fifo.d/c.jwks"
run 2 "a socket in a trust directory is refused as not a regular file" \
        "$SVCID" verify -a ci:build --trust "$T/fifo.d" "$VALID"
has "$ERR" "svcid: verify: cannot load trust: $T/fifo.d/c.jwks: not a regular file"
# A trust file or directory others may write to is refused: a writer
# could add an issuer.
cp "$JWKS" "$T/open.jwks"
chmod 0666 "$T/open.jwks"
run 2 "a trust file anyone may write is refused" "$SVCID" verify -a ci:build --trust "$T/open.jwks" "$VALID"
has "$ERR" "$T/open.jwks: writable by group or others"
chmod 0620 "$T/open.jwks"
run 2 "a trust file its group may write is refused" "$SVCID" verify -a ci:build --trust "$T/open.jwks" "$VALID"
mkdir "$T/open.d"
cp "$JWKS" "$T/open.d/a.jwks"
chmod 0777 "$T/open.d"
run 2 "a trust directory anyone may write is refused" "$SVCID" verify -a ci:build --trust "$T/open.d" "$VALID"
has "$ERR" "$T/open.d: writable by group or others"
chmod 0755 "$T/open.d"
run 0 "the same directory, no longer writable by others" "$SVCID" verify -a ci:build --trust "$T/open.d" "$VALID"
# So is one below a directory others may write, at any depth: a writer
# could put another file or directory in its place. A sticky one, as
# /tmp, is fine: others cannot rename or remove what is in it.
mkdir -p "$T/above/keys"
cp "$JWKS" "$T/above/keys/a.jwks"
chmod 0777 "$T/above"
run 2 "a trust file below a directory anyone may write is refused" \
        "$SVCID" verify -a ci:build --trust "$T/above/keys/a.jwks" "$VALID"
has "$ERR" "$T/above/keys/a.jwks: directory \"$T/above\" is writable by group or others (mode 0777)"
run 2 "a trust directory below one anyone may write is refused" \
        "$SVCID" verify -a ci:build --trust "$T/above/keys/" "$VALID"
has "$ERR" "directory \"$T/above\" is writable by group or others"
ln -s "$T/above/keys" "$T/keys-link"
run 2 "a symlink above the trust file is followed, and its target checked" \
        "$SVCID" verify -a ci:build --trust "$T/keys-link/a.jwks" "$VALID"
has "$ERR" "directory \"$T/above\" is writable"
chmod 1777 "$T/above"
run 0 "the same directory, sticky" "$SVCID" verify -a ci:build --trust "$T/above/keys/a.jwks" "$VALID"
chmod 0755 "$T/above"
run 0 "through the symlink, once no one else may write" \
        "$SVCID" verify -a ci:build --trust "$T/keys-link/a.jwks" "$VALID"
# Nor may a user other than root, svcid or the caller own one: the owner
# can always write it.
if [ "$(id -u)" = 0 ]; then
        cp "$JWKS" "$T/theirs.jwks"
        chown 65534 "$T/theirs.jwks"
        run 2 "a trust file another user owns is refused" "$SVCID" verify -a ci:build --trust "$T/theirs.jwks" "$VALID"
        has "$ERR" "$T/theirs.jwks: owned by uid 65534, not root, svcid or the caller"
        chown 0 "$T/theirs.jwks"
        chown 65534 "$T/open.d"
        run 2 "a trust directory another user owns is refused" "$SVCID" verify -a ci:build --trust "$T/open.d" "$VALID"
        has "$ERR" "$T/open.d: owned by uid 65534"
        chown 0 "$T/open.d"
        chown 65534 "$T/above"
        run 2 "a trust file below a directory another user owns is refused" \
                "$SVCID" verify -a ci:build --trust "$T/above/keys/a.jwks" "$VALID"
        has "$ERR" "directory \"$T/above\" is owned by uid 65534"
        chown 0 "$T/above"
        chown 65534 "$T/open.d/a.jwks"
        run 2 "a file another user owns in a trust directory is refused" \
                "$SVCID" verify -a ci:build --trust "$T/open.d" "$VALID"
        has "$ERR" "$T/open.d/a.jwks: owned by uid 65534"
        # The same files are that user's own when that user verifies.
        cp "$SVCID" "$T/svcid-copy"
        chmod 0755 "$T" "$T/svcid-copy"
        run 0 "the caller's own trust directory" \
                runuser -u "$(id -nu 65534)" -- "$T/svcid-copy" verify -a ci:build --trust "$T/open.d" "$VALID"
        chown -R 0 "$T/open.d"
else
        echo "skip: trust owned by another user (needs root)"
fi
# The token is read before the trust: in `svcid token | svcid verify` the
# token request is what starts a socket-activated agent, which writes the
# JWKS. Here the JWKS appears a second after verify starts, and the token
# only once it is there.
echo "check: the trust is loaded after the token has been read"
rm -f "$T/late.jwks"
(sleep 1; cp "$JWKS" "$T/late.jwks.tmp" && mv "$T/late.jwks.tmp" "$T/late.jwks") &
rc=0
{ while [ ! -e "$T/late.jwks" ]; do sleep 0.1; done; printf %s "$VALID"; } |
        timeout 30 "$SVCID" verify -a ci:build --trust "$T/late.jwks" - >"$OUT" 2>"$ERR" || rc=$?
wait
[ "$rc" = 0 ] || fail "a JWKS written while the token was on its way: exit $rc"
echo '{"keys": [' >"$T/broken.jwks"
run 2 "a trust file that is not JSON" "$SVCID" verify -a ci:build --trust "$T/broken.jwks" "$VALID"
has "$ERR" "$T/broken.jwks"
echo '{"keys": []}' >"$T/noiss.jwks"
run 2 "a trust file without iss" "$SVCID" verify -a ci:build --trust "$T/noiss.jwks" "$VALID"
has "$ERR" "$T/noiss.jwks"
has "$ERR" "iss"
"$PY" - "$JWKS" "$T/short.jwks" <<'PYEOF'
import base64, json, sys
doc = json.load(open(sys.argv[1]))
x = base64.urlsafe_b64decode(doc["keys"][0]["x"] + "==")
doc["keys"][0]["x"] = base64.urlsafe_b64encode(x[1:]).rstrip(b"=").decode()
json.dump(doc, open(sys.argv[2], "w"))
PYEOF
run 2 "a JWK with a trimmed coordinate: the reason names it" \
        "$SVCID" verify -a ci:build --trust "$T/short.jwks" "$VALID"
has "$ERR" "$T/short.jwks: key 0 is not a usable signature key: \"x\" is 31 bytes, must be 32"
run 2 "good trust, then a missing one: still a config error" \
        "$SVCID" verify -a ci:build --trust "$JWKS" --trust "$T/nope.d" "$VALID"
has "$ERR" "$T/nope.d"
run 2 "a trust file in a missing directory: the directory is named" \
        "$SVCID" verify -a ci:build --trust "$T/nope/host.jwks" "$VALID"
has "$ERR" "svcid: verify: cannot load trust: $T/nope/host.jwks: directory \"$T/nope\": No such file or directory"
run 2 "a trust directory with no keys" "$SVCID" verify -a ci:build --trust "$T/empty.d" "$VALID"
has "$ERR" "svcid: verify: no trusted keys in $T/empty.d (a directory gives only its *.jwks files)"
mkdir "$T/json.d"
cp "$JWKS" "$T/json.d/host.json"
run 2 "a trust directory whose JWKS is not named *.jwks" "$SVCID" verify -a ci:build --trust "$T/json.d" "$VALID"
has "$ERR" "svcid: verify: no trusted keys in $T/json.d (a directory gives only its *.jwks files)"
run 2 "--issuer that is not trusted" "$SVCID" verify -a ci:build --trust "$JWKS" --issuer svcid://other "$VALID"
has "$ERR" "svcid: verify: --issuer 'svcid://other': not one of the trusted issuers"
run 2 "an empty --issuer" "$SVCID" verify -a ci:build --trust "$JWKS" --issuer '' "$VALID"
has "$ERR" "svcid: verify: --issuer: the issuer must not be empty"
run 2 "--require without '='" "$SVCID" verify -a ci:build --trust "$JWKS" --require roles "$VALID"
has "$ERR" "svcid: verify: --require 'roles'"
run 2 "--require with an empty pattern" "$SVCID" verify -a ci:build --trust "$JWKS" --require roles= "$VALID"
has "$ERR" "svcid: verify: --require 'roles=': expected CLAIM=GLOB, neither empty"
has "$ERR" "Try 'svcid verify --help'."
# what the user typed is quoted, but printable
run 2 "--issuer with an escape" "$SVCID" verify -a ci:build --trust "$JWKS" --issuer $'svcid://x\e[2J' "$VALID"
has "$ERR" "svcid: verify: --issuer 'svcid://x?[2J': not one of the trusted issuers"
run 2 "--require with an escape and no '='" "$SVCID" verify -a ci:build --trust "$JWKS" --require $'roles\e[2J' "$VALID"
has "$ERR" "svcid: verify: --require 'roles?[2J': expected CLAIM=GLOB, neither empty"
lacks "$ERR" $'\e'
if [ ! -e /etc/svcid/trust.d ] && [ ! -e /var/lib/svcid/jwks.json ]; then
        run 2 "no --trust and no default trust on this host" "$SVCID" verify -a ci:build "$VALID"
        has "$ERR" "svcid: verify: no trusted keys"
        has "$ERR" "/etc/svcid/trust.d"
else
        echo "note: default trust exists on this host; not checking the no-trust error"
fi

# ---- verify: a valid token ----------------------------------------------
check_claims() {
        "$PY" -c 'import json,sys; c=json.load(open(sys.argv[1]));
assert c["sub"]=="deploy-bot" and c["aud"]=="ci:build" and c["iss"]=="svcid://test.example", c
assert c["roles"]==["deploy","restart"] and c["uid"]==1000, c' "$OUT" || fail "claims JSON on stdout is wrong"
}
run 0 "a valid token, trust as a file" "$SVCID" verify -a ci:build --trust "$JWKS" "$VALID"
check_claims
empty "$ERR"
has "$OUT" '  "sub": "deploy-bot"'      # pretty-printed
run 0 "a valid token, trust as a directory" "$SVCID" verify -a ci:build --trust "$T/trust.d" "$VALID"
check_claims
DEL_TOKEN=$(mint "$(claims "$NOW" $((NOW + 300)) ci:build ',"note":"a\u007fb"')")
run 0 "a valid token with a DEL byte in a claim: printed escaped" "$SVCID" verify -a ci:build --trust "$JWKS" "$DEL_TOKEN"
has "$OUT" '"note": "a\u007Fb"'
if LC_ALL=C grep -q $'\x7f' "$OUT"; then fail "verify: a DEL byte reached the terminal"; fi
run 0 "a valid token with --issuer and --require" "$SVCID" verify -a ci:build --trust "$JWKS" \
        --issuer svcid://test.example --require 'sub=deploy-*' --require roles=restart \
        --leeway 0 --max-lifetime 300 "$VALID"
check_claims
printf '%s\n' "$VALID" >"$T/token.nl"
run_in 0 "token from stdin with '-' (trailing newline stripped)" "$T/token.nl" \
        "$SVCID" verify -a ci:build --trust "$JWKS" -
check_claims
run_in 0 "token from stdin with no argument" "$T/token.nl" "$SVCID" verify -a ci:build --trust "$JWKS"
check_claims
run_in 0 "options after the token" "$T/token.nl" "$SVCID" verify - -a ci:build --trust "$JWKS"
check_claims
printf '%s\r\n' "$VALID" >"$T/token.crlf"
run_in 0 "token from stdin with a CRLF line end (stripped)" "$T/token.crlf" \
        "$SVCID" verify -a ci:build --trust "$JWKS" -
check_claims
# stdin that cannot be read, and a terminal, which nobody is asked to type into
run_in 2 "verify: stdin that cannot be read" / "$SVCID" verify -a ci:build --trust "$JWKS" -
has "$ERR" "svcid: verify: cannot read the token from standard input: Is a directory"
run_in 2 "inspect: stdin that cannot be read" / "$SVCID" inspect -
has "$ERR" "svcid: inspect: cannot read the token from standard input: Is a directory"
on_tty() {  # CMD...: run CMD with a terminal as its stdin; a hang is a failure
        "$PY" -c 'import pty, subprocess, sys
m, s = pty.openpty()
sys.exit(subprocess.run(sys.argv[1:], stdin=s, timeout=10).returncode)' "$@"
}
run 2 "verify without TOKEN on a terminal" on_tty "$SVCID" verify -a ci:build --trust "$JWKS"
has "$ERR" "svcid: verify: no token: pass TOKEN, or pipe it on standard input"
run 2 "inspect without TOKEN on a terminal" on_tty "$SVCID" inspect
has "$ERR" "svcid: inspect: no token: pass TOKEN, or pipe it on standard input"

# ---- verify: rejections (exit 1, one line naming the reason) ------------
run 1 "an expired token" "$SVCID" verify -a ci:build --trust "$JWKS" "$EXPIRED"
has "$ERR" "svcid: rejected: expired: "
[ "$(wc -l <"$ERR")" -eq 1 ] || fail "rejection should be one line"
empty "$OUT"
lacks "$ERR" "$EXPIRED"
lacks "$ERR" "${EXPIRED##*.}"        # nor its signature
run 0 "--now inside the expired token's lifetime makes it valid" \
        "$SVCID" verify -a ci:build --trust "$JWKS" --now $((EXPIRED_AT + 10)) "$EXPIRED"
has "$OUT" '"aud": "ci:build"'
run 1 "--now before iat: issued in the future" \
        "$SVCID" verify -a ci:build --trust "$JWKS" --now $((EXPIRED_AT - 3600)) "$EXPIRED"
has "$ERR" "svcid: rejected: issued_in_future: "
run 1 "--now after exp + leeway" \
        "$SVCID" verify -a ci:build --trust "$JWKS" --now $((EXPIRED_AT + 300 + 61)) "$EXPIRED"
has "$ERR" "svcid: rejected: expired: "
run 0 "... but within a larger --leeway" \
        "$SVCID" verify -a ci:build --trust "$JWKS" --leeway 120 --now $((EXPIRED_AT + 300 + 61)) "$EXPIRED"
run 1 "the wrong audience" "$SVCID" verify -a ssh:web01 --trust "$JWKS" "$VALID"
has "$ERR" "svcid: rejected: wrong_audience: "
empty "$OUT"
run 1 "--max-lifetime shorter than the token's" "$SVCID" verify -a ci:build --trust "$JWKS" --max-lifetime 60 "$VALID"
has "$ERR" "svcid: rejected: lifetime_too_long: "
run 1 "a required claim that does not match" "$SVCID" verify -a ci:build --trust "$JWKS" --require roles=admin "$VALID"
has "$ERR" "svcid: rejected: claim_mismatch: "
run 1 "a required claim that is missing" "$SVCID" verify -a ci:build --trust "$JWKS" --require unit='*' "$VALID"
has "$ERR" "svcid: rejected: missing_claim: "
sig=${VALID##*.}
flip=A; [ "${sig:0:1}" = A ] && flip=B
run 1 "a tampered signature" "$SVCID" verify -a ci:build --trust "$JWKS" "${VALID%.*}.$flip${sig:1}"
has "$ERR" "svcid: rejected: bad_signature: "
"$PY" "$T/mint.py" keygen "$T/other" svcid://other.example
OTHER=$(mint "$(claims "$NOW" $((NOW + 300)) ci:build | sed 's/test.example/other.example/')" "$T/other")
run 1 "a token of an issuer nobody trusts" "$SVCID" verify -a ci:build --trust "$JWKS" "$OTHER"
has "$ERR" "svcid: rejected: unknown_issuer: issuer \"$(jq -r .iss "$T/other/issuer.jwks")\" is not trusted"
run 1 "--issuer excludes another trusted issuer" "$SVCID" verify -a ci:build \
        --trust "$JWKS" --trust "$T/other/issuer.jwks" --issuer svcid://test.example "$OTHER"
has "$ERR" "svcid: rejected: unknown_issuer: issuer \"$(jq -r .iss "$T/other/issuer.jwks")\" is not the one required, \"svcid://test.example\""
run 0 "... which verifies with both trusted and no --issuer" "$SVCID" verify -a ci:build \
        --trust "$JWKS" --trust "$T/other/issuer.jwks" "$OTHER"
run 1 "garbage as a token" "$SVCID" verify -a ci:build --trust "$JWKS" not-a-token
has "$ERR" "svcid: rejected: malformed: "
lacks "$ERR" "is a file"
# a file's name given as TOKEN: said to be one, with the way to read it
printf '%s\n' "$VALID" >"$T/token.txt"
run 1 "a file's name as TOKEN" "$SVCID" verify -a ci:build --trust "$JWKS" "$T/token.txt"
has "$ERR" "svcid: rejected: malformed: "
has "$ERR" "svcid: verify: '$T/token.txt' is a file; TOKEN is the token itself: to read it from the file, give - as TOKEN and the file on standard input"
run 1 "inspect a file's name as TOKEN" "$SVCID" inspect "$T/token.txt"
has "$ERR" "svcid: inspect: '$T/token.txt' is a file; TOKEN is the token itself"
# a name that splits in three as a token would, and a directory's: the
# first is hinted at too, the second is no file to redirect
: >"$T/abcd.abcd.abcd"
run 1 "inspect a file named like three segments" env -C "$T" "$SVCID" inspect abcd.abcd.abcd
has "$ERR" "svcid: inspect: header: "
has "$ERR" "svcid: inspect: 'abcd.abcd.abcd' is a file; TOKEN is the token itself"
run 1 "a directory's name as TOKEN" "$SVCID" verify -a ci:build --trust "$JWKS" "$T"
lacks "$ERR" "is a file"
mkfifo "$T/token.fifo"
run 1 "a FIFO's name as TOKEN" "$SVCID" verify -a ci:build --trust "$JWKS" "$T/token.fifo"
has "$ERR" "svcid: verify: '$T/token.fifo' is a file; TOKEN is the token itself"
run_in 0 "... and the way it gives works" "$T/token.txt" "$SVCID" verify -a ci:build --trust "$JWKS" -
# whitespace a paste brought along is named, for it cannot be seen
run 1 "a token with a newline after it, as an argument" "$SVCID" verify -a ci:build --trust "$JWKS" "$VALID"$'\n'
has "$ERR" "svcid: rejected: malformed: signature is not canonical base64url (it holds whitespace)"
run 1 "inspect a token with a space before it" "$SVCID" inspect " $VALID"
has "$ERR" "svcid: inspect: not a token: it holds whitespace at byte 0"
: >"$T/empty.in"
run_in 1 "an empty stdin" "$T/empty.in" "$SVCID" verify -a ci:build --trust "$JWKS" -
has "$ERR" "svcid: rejected: malformed"
head -c 9000 /dev/zero | tr '\0' A >"$T/big.in"
run_in 1 "a 9000-byte token on stdin" "$T/big.in" "$SVCID" verify -a ci:build --trust "$JWKS" -
has "$ERR" "svcid: rejected: too_large: token is 9000 bytes, more than 8192"
head -c 200000 /dev/zero | tr '\0' A >"$T/huge.in"
run_in 1 "a 200 kB token on stdin (bounded read)" "$T/huge.in" "$SVCID" verify -a ci:build --trust "$JWKS" -
has "$ERR" "svcid: rejected: too_large: token is over 9216 bytes, more than 8192"
run_in 1 "inspect a 200 kB token on stdin" "$T/huge.in" "$SVCID" inspect -
has "$ERR" "svcid: inspect: token too large (over 9216 bytes, at most 8192)"
{ head -c 8000 /dev/zero | tr '\0' A; head -c 2000 /dev/zero | tr '\0' ' '; } >"$T/pad.in"
run_in 1 "padding past the read cap is not stripped back under the limit" "$T/pad.in" \
        "$SVCID" verify -a ci:build --trust "$JWKS" -
has "$ERR" "svcid: rejected: too_large: "
# ... nor when the bytes past the cap come later, in a read of their own
echo "check: padding past the read cap, sent after a pause"
rc=0
{ head -c 9216 "$T/pad.in"; sleep 0.5; tail -c +9217 "$T/pad.in"; } |
        "$SVCID" verify -a ci:build --trust "$JWKS" - >"$OUT" 2>"$ERR" || rc=$?
[ "$rc" = 1 ] || fail "padding past the read cap, sent after a pause: exit $rc, want 1"
has "$ERR" "svcid: rejected: too_large: "
{ head -c 8000 /dev/zero | tr '\0' A; head -c 1216 /dev/zero | tr '\0' ' '; } >"$T/cap.in"
run_in 1 "input that fills the read cap exactly is stripped as any other" "$T/cap.in" \
        "$SVCID" verify -a ci:build --trust "$JWKS" -
has "$ERR" "svcid: rejected: malformed: "

# ---- inspect ------------------------------------------------------------
run 0 "inspect a valid token" "$SVCID" inspect "$VALID"
first "$OUT" "UNVERIFIED — signature and claims not checked"
has "$OUT" '"alg": "ES256"'
has "$OUT" '"sub": "deploy-bot"'
has "$OUT" "signature: 64 bytes"
has "$OUT" "exp: $((NOW + 300)) = "
has "$OUT" "iat: $NOW = "
lacks "$OUT" "$sig"
empty "$ERR"
run 0 "inspect labels an unverifiable token just the same" "$SVCID" inspect "$OTHER"
first "$OUT" "UNVERIFIED — signature and claims not checked"
run_in 0 "inspect from stdin" "$T/token.nl" "$SVCID" inspect -
first "$OUT" "UNVERIFIED — signature and claims not checked"
run 0 "inspect --help" "$SVCID" inspect --help
first "$OUT" "Usage: svcid inspect [TOKEN|-]"
run 1 "inspect garbage" "$SVCID" inspect garbage
has "$ERR" "svcid: inspect: not a compact JWS"
empty "$OUT"
run 1 "inspect four segments" "$SVCID" inspect "$VALID.x"
has "$ERR" "svcid: inspect: not a compact JWS"
run 1 "inspect padded base64" "$SVCID" inspect "${VALID%%.*}=.${VALID#*.}"
has "$ERR" "svcid: inspect: header: not strict base64url"
empty "$OUT"
b64() { printf '%s' "$1" | base64 -w0 | tr '+/' '-_' | tr -d '='; }
run 1 "inspect a header with a duplicate member" \
        "$SVCID" inspect "$(b64 '{"alg":"ES256","alg":"none"}').$(b64 '{"sub":"x"}').AAAA"
has "$ERR" "svcid: inspect: header: "
run 1 "inspect: a JSON error that quotes a control byte shows it as '?'" \
        "$SVCID" inspect "$(b64 '{"alg":"ES256"}').$(b64 $'{"a":\e[31m}').AAAA"
has "$ERR" "svcid: inspect: payload: invalid token near '?'"
if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$ERR"; then fail "a control byte reached the terminal"; fi
run 1 "inspect: so does a DEL byte" "$SVCID" inspect "$(b64 '{"alg":"ES256"}').$(b64 $'{"a":\x7f}').AAAA"
has "$ERR" "svcid: inspect: payload: invalid token near '?'"
if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$ERR"; then fail "a DEL byte reached the terminal"; fi
# A DEL byte inside a string is JSON, and the JSON printer (of inspect,
# verify, jwks and token --json) escapes it as any other control byte.
run 0 "inspect: a DEL byte in a claim is printed escaped" \
        "$SVCID" inspect "$(b64 '{"alg":"ES256"}').$(b64 $'{"sub":"a\x7fb","x\x7f":1}').AAAA"
has "$OUT" '"sub": "a\u007Fb"'
has "$OUT" '"x\u007F": 1'
if LC_ALL=C grep -q $'\x7f' "$OUT"; then fail "inspect: a DEL byte reached the terminal"; fi
for c in token exec verify jwks connect inspect; do
        run 2 "$c: an unknown option" "$SVCID" "$c" --no-such-option
        first "$ERR" "svcid: $c: unknown option '--no-such-option'"
done
# Every usage error says what is wrong, then where the usage is.
usage_err() {   # CMD MESSAGE ARGS...
        local c=$1 msg=$2
        shift 2
        run 2 "$c: $msg" env SVCID_AGENT_SOCKET="$T/nope.sock" "$SVCID" "$c" "$@"
        [ "$(cat "$ERR")" = "svcid: $c: $msg"$'\n'"Try 'svcid $c --help'." ] ||
                fail "$c $*: not the message '$msg' and a pointer to --help"
}
usage_err token "--ttl '0': expected whole seconds in [1, 3600]" -a x --ttl 0
usage_err exec "--ttl '3601': expected whole seconds in [1, 3600]" -a x --ttl 3601 -- true
usage_err exec "--env needs a variable name, not '1A'" -a x --env 1A -- true
# a name of 128 characters is one, of 129 none
LONG_NAME=$(printf 'N%.0s' $(seq 1 129))
usage_err exec "--env needs a variable name, not '$LONG_NAME'" -a x --env "$LONG_NAME" -- true
run 1 "exec --env with a 128-character name" env SVCID_AGENT_SOCKET="$T/nope.sock" "$SVCID" exec -a x \
        --env "${LONG_NAME:1}" -- true
usage_err exec "-a AUD is required" -- true
usage_err exec "a command to run is required" -a x
usage_err token "unexpected argument 'extra'" -a x extra
usage_err token "-a AUD is required"
usage_err jwks "unexpected argument 'extra'" extra
usage_err connect "give exactly one address" -a x
usage_err connect "give exactly one address" -a x unix:/run/a.sock unix:/run/b.sock
usage_err token "-a AUD: the audience must not be empty" -a ''
usage_err exec "-a AUD: the audience must not be empty" -a '' -- true
usage_err connect "-a AUD: the audience must not be empty" -a '' unix:/run/a.sock
# an audience the agent cannot take is one too, said before it is asked,
# the argument shown without its control bytes
AUD_RULE="the audience must be 1 to 255 printable ASCII characters without spaces"
usage_err token "-a 'a b': $AUD_RULE" -a 'a b'
usage_err exec "-a 'a?[31mb': $AUD_RULE" -a $'a\e[31mb' -- true
usage_err connect "-a 'caf??': $AUD_RULE" -a café unix:/run/a.sock
usage_err verify "--leeway '-1': expected whole seconds in [0, 3600]" -a x --leeway -1 "$VALID"
usage_err verify "option '--trust' needs a value" -a x --trust
# an option that takes one value, given twice, is refused, not the last
# one silently taken; those that gather (--trust, --require) may repeat
usage_err token "option '--audience' (-a) is given twice; it takes one value" -a x -a y
usage_err token "option '--ttl' (-t) is given twice; it takes one value" -a x --ttl 5 -t 6
usage_err exec "option '--audience' (-a) is given twice; it takes one value" -a x --audience=y -- true
usage_err exec "option '--env' (-e) is given twice; it takes one value" -a x -e A -e B -- true
usage_err connect "option '--audience' (-a) is given twice; it takes one value" -a x -a x unix:/run/a.sock
usage_err verify "option '--issuer' is given twice; it takes one value" -a x --issuer a --issuer a "$VALID"
usage_err verify "option '--now' is given twice; it takes one value" -a x --now 1 --now 2 "$VALID"
usage_err verify "option '--audience' (-a) is given twice; it takes one value" -a x -ay "$VALID"
usage_err inspect "too many arguments: give one TOKEN (or '-')" "$VALID" "$VALID"
run 1 "inspect a payload that is not an object" \
        "$SVCID" inspect "$(b64 '{"alg":"ES256"}').$(b64 '["sub"]').AAAA"
has "$ERR" "svcid: inspect: payload: not a JSON object"
run 1 "inspect a payload that is not JSON" \
        "$SVCID" inspect "$(b64 '{"alg":"ES256"}').$(b64 'sub=x').AAAA"
has "$ERR" "svcid: inspect: payload: "
run_in 1 "inspect an oversized token" "$T/big.in" "$SVCID" inspect -
has "$ERR" "svcid: inspect: token too large"
run 2 "inspect with two tokens" "$SVCID" inspect "$VALID" "$VALID"
has "$ERR" "svcid: inspect: too many arguments"
run_in 1 "inspect an empty stdin" "$T/empty.in" "$SVCID" inspect -
has "$ERR" "svcid: inspect: empty token"
printf 'a\0b' >"$T/nul.in"
run_in 1 "inspect a token with a NUL byte" "$T/nul.in" "$SVCID" inspect -
has "$ERR" "svcid: inspect: not a token: it contains a NUL byte"
run 1 "inspect a signature that is not base64url" "$SVCID" inspect "${VALID%.*}.A"
has "$ERR" "svcid: inspect: signature: not strict base64url"
empty "$OUT"
run 0 "inspect: a time that is no integer is said to be none" \
        "$SVCID" inspect "$(b64 '{"alg":"ES256"}').$(b64 '{"exp":"soon"}').AAAA"
has "$OUT" "exp: not an integer"
sized() {  # LEN: a token of exactly LEN bytes whose three segments decode
        "$PY" - "$1" <<'PYEOF'
import base64, sys
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
n, pad = int(sys.argv[1]), 0
while True:
    t = b(b'{"alg":"ES256"}') + "." + b(b'{"p":"' + b"x" * pad + b'"}') + "."
    if len(t) + 4 >= n:
        break
    pad += 1
print(t + "A" * (n - len(t)))
PYEOF
}
tok=$(sized 8192)
[ ${#tok} = 8192 ] || fail "sized made a token of ${#tok} bytes"
run 0 "inspect a token of exactly 8192 bytes" "$SVCID" inspect "$tok"
first "$OUT" "UNVERIFIED — signature and claims not checked"
run 1 "inspect a token of 8193 bytes" "$SVCID" inspect "$(sized 8193)"
has "$ERR" "svcid: inspect: token too large (8193 bytes, at most 8192)"
# a file's name that is a token's shape, refused for what the token says:
# the hint about files is for a TOKEN that is no token at all
tok="$(b64 '{"alg":"ES256"}').$(b64 '{"iss":"svcid://nobody"}').$(printf 'A%.0s' $(seq 86))"
: >"$T/$tok"
run 1 "a token that is also a file's name" env -C "$T" "$SVCID" verify -a ci:build --trust "$JWKS" "$tok"
has "$ERR" "svcid: rejected: unknown_issuer: "
lacks "$ERR" "is a file"

# ---- what the caller hands over: full disks, closed or odd descriptors ---
run 1 "--help to a full disk" sh -c 'exec "$0" --help >/dev/full' "$SVCID"
has "$ERR" "svcid: cannot write to standard output: No space left on device"
run 1 "--version with stdout closed" sh -c 'exec "$0" --version >&-' "$SVCID"
has "$ERR" "svcid: cannot write to standard output: Bad file descriptor"
run 1 "verify to a full disk: the token is valid, the output lost" \
        sh -c 'exec "$0" verify -a ci:build --trust "$1" "$2" >/dev/full' "$SVCID" "$JWKS" "$VALID"
has "$ERR" "svcid: verify: cannot write to standard output: No space left on device"
# claims longer than stdio's buffer fail while printed: said once, exit 1
PADDED=$(mint "$(claims "$NOW" $((NOW + 300)) ci:build ",\"pad\":\"$(head -c 5000 /dev/zero | tr '\0' x)\"")")
run 1 "verify to a full disk, claims longer than a buffer" \
        sh -c 'exec "$0" verify -a ci:build --trust "$1" "$2" >/dev/full' "$SVCID" "$JWKS" "$PADDED"
[ "$(cat "$ERR")" = "svcid: verify: token valid, but printing its claims failed: No space left on device" ] ||
        fail "a claims print that failed is not said once"
echo "check: a token on a non-blocking stdin, written after a pause"
"$PY" - "$SVCID" "$JWKS" "$VALID" >"$OUT" 2>"$ERR" <<'PYEOF' || fail "non-blocking stdin"
import fcntl, os, subprocess, sys, time
r, w = os.pipe()
fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_NONBLOCK)
p = subprocess.Popen([sys.argv[1], "verify", "-a", "ci:build", "--trust", sys.argv[2], "-"], stdin=r)
os.close(r)
time.sleep(0.3)
os.write(w, sys.argv[3].encode() + b"\n")
os.close(w)
sys.exit(p.wait())
PYEOF
check_claims
for name in PATH LD_PRELOAD IFS BASH_ENV BASH_XTRACEFD BASHOPTS SHELLOPTS PS4 HOME MALLOC_ARENA_MAX PYTHONSTARTUP \
            LC_ALL _JAVA_OPTIONS JDK_JAVA_OPTIONS NODE_EXTRA_CA_CERTS OPENSSL_CONF; do
        run 2 "exec --env $name, which is read before CMD runs" \
                env SVCID_AGENT_SOCKET="$T/nope.sock" "$SVCID" exec -a x --env "$name" -- true
        has "$ERR" "svcid: exec: --env $name is read before CMD runs"
done
run 1 "token from an agent socket that does not exist" env SVCID_AGENT_SOCKET="$T/nope.sock" "$SVCID" token -a x
has "$ERR" "svcid: token: cannot reach the agent at $T/nope.sock: No such file or directory"
lacks "$ERR" "systemctl"
if [ ! -e /run/svcid/agent.sock ]; then
        # The default path points at the socket unit.
        run 1 "token with no agent socket at the default path" env -u SVCID_AGENT_SOCKET "$SVCID" token -a x
        has "$ERR" "svcid: token: cannot reach the agent at /run/svcid/agent.sock: No such file or directory (systemctl status svcid-agent.socket says whether it listens; \$SVCID_AGENT_SOCKET names another socket)"
        # set but empty is unset
        run 1 "token with an empty \$SVCID_AGENT_SOCKET" env SVCID_AGENT_SOCKET= "$SVCID" token -a x
        has "$ERR" "svcid: token: cannot reach the agent at /run/svcid/agent.sock: No such file or directory"
else
        echo "note: /run/svcid/agent.sock exists here; the hint for a missing default socket is not checked"
fi
long=$T/$(printf 'a%.0s' $(seq 120))
run 2 "a \$SVCID_AGENT_SOCKET too long for a socket" env SVCID_AGENT_SOCKET="$long" "$SVCID" token -a x
has "$ERR" "svcid: token: the agent socket path is ${#long} bytes, the limit is 107"
long108=$T/$(printf 'a%.0s' $(seq $((107 - ${#T}))))
run 2 "a \$SVCID_AGENT_SOCKET one byte too long for a socket" env SVCID_AGENT_SOCKET="$long108" "$SVCID" token -a x
has "$ERR" "svcid: token: the agent socket path is 108 bytes, the limit is 107"
run 2 "jwks with a \$SVCID_AGENT_SOCKET too long for a socket" env SVCID_AGENT_SOCKET="$long108" "$SVCID" jwks
has "$ERR" "svcid: jwks: the agent socket path is 108 bytes, the limit is 107"
# connect judges its address before it asks the agent for a token.
run 2 "connect to a port out of range" env SVCID_AGENT_SOCKET="$T/nope.sock" "$SVCID" connect -a x tcp:localhost:99999
has "$ERR" "svcid: connect: tcp address needs HOST:PORT with a port 1..65535, not 'localhost:99999'"
for addr in "tcp:[::1:7000" "tcp:::1]:7000" "tcp:[[::1]]:7000" "tcp:a[b]:7000"; do
        run 2 "connect to $addr, a bracket out of place" env SVCID_AGENT_SOCKET="$T/nope.sock" "$SVCID" connect -a x "$addr"
        has "$ERR" "svcid: connect: tcp address has an unmatched '[' or ']': '${addr#tcp:}' (an IPv6 host goes in brackets: [::1]:PORT)"
done
run 2 "connect to tcp: without a host" env SVCID_AGENT_SOCKET="$T/nope.sock" "$SVCID" connect -a x tcp:[]:7000
has "$ERR" "svcid: connect: tcp address has no host: '[]:7000'"
run 2 "connect to port 0" env SVCID_AGENT_SOCKET="$T/nope.sock" "$SVCID" connect -a x tcp:localhost:0
has "$ERR" "svcid: connect: tcp address needs HOST:PORT with a port 1..65535, not 'localhost:0'"
run 2 "connect to a socket path one byte too long" env SVCID_AGENT_SOCKET="$T/nope.sock" "$SVCID" connect -a x "unix:$long108"
has "$ERR" "svcid: connect: socket path is 108 bytes, the limit is 107"
run 2 "connect to unix: without a path" env SVCID_AGENT_SOCKET="$T/nope.sock" "$SVCID" connect -a x unix:
has "$ERR" "svcid: connect: unix: address has no socket path"
run 2 "connect to a socket path too long" env SVCID_AGENT_SOCKET="$T/nope.sock" "$SVCID" connect -a x "unix:$long"
has "$ERR" "svcid: connect: socket path is ${#long} bytes, the limit is 107"
# The address is quoted as given, but printable, wherever it is refused.
run 2 "connect to an address with an escape" env SVCID_AGENT_SOCKET="$T/nope.sock" "$SVCID" connect -a x $'sctp:\e[2J'
has "$ERR" "svcid: connect: address must be unix:PATH or tcp:HOST:PORT, not 'sctp:?[2J'"
has "$ERR" "Try 'svcid connect --help'."
run 2 "connect to a tcp address with an escape" env SVCID_AGENT_SOCKET="$T/nope.sock" "$SVCID" connect -a x $'tcp:h\e[2J'
has "$ERR" "svcid: connect: tcp address needs HOST:PORT with a port 1..65535, not 'h?[2J'"
run 1 "connect to a missing socket whose path has an escape" env SVCID_AGENT_SOCKET="$T/nope.sock" "$SVCID" \
        connect -a x "unix:$T/no"$'\e[2J'".sock"
has "$ERR" "svcid: connect: cannot connect to $T/no?[2J.sock: No such file or directory"
lacks "$ERR" $'\e'

# ---- trust and tokens the library refuses, with a reason that says why ----
mkdir "$T/link.d"
cp "$JWKS" "$T/link.d/real.jwks"
ln -s "$T/link.d/real.jwks" "$T/link.d/other.jwks"
run 2 "a symbolic link in a trust directory" "$SVCID" verify -a ci:build --trust "$T/link.d" "$VALID"
has "$ERR" "$T/link.d/other.jwks: a symbolic link, which trust loading does not follow (name the file itself, or put a copy there)"
BIG=$(mint "$(claims "$NOW" $((NOW + 300)) ci:build ',"big":123456789012345678901234567890')")
run 1 "a claim too big for 64 bits" "$SVCID" verify -a ci:build --trust "$JWKS" "$BIG"
has "$ERR" "svcid: rejected: malformed: payload is not a JSON object without duplicates: too big integer"
# The parser's reason gives the place, never the text read there: from a
# token, that may be whatever a user typed at a prompt (pam_svcid logs it).
run 1 "a payload cut short" "$SVCID" verify -a ci:build --trust "$JWKS" \
        "$(b64 '{"alg":"ES256"}').$(b64 '{"sub":"MyPassw0rd!').AAAA"
has "$ERR" "svcid: rejected: malformed: payload is not a JSON object without duplicates: premature end of input after 19 bytes"
if grep -q "Passw0rd" "$ERR"; then fail "the reason quotes the payload: $(cat "$ERR")"; fi
# Nor a byte of it, nor an escape: a password-shaped answer, whose
# segments decode to bytes that are not UTF-8, and a lone surrogate.
run 1 "a password-shaped token" "$SVCID" verify -a ci:build --trust "$JWKS" "abcd.efgh.ijkl"
has "$ERR" "svcid: rejected: malformed: header is not a JSON object without duplicates: invalid UTF-8 after 1 byte"
run 1 "a lone surrogate escape" "$SVCID" verify -a ci:build --trust "$JWKS" \
        "$(b64 '{"alg":"ES256"}').$(b64 '{"a":"\ud800"}').AAAA"
has "$ERR" "svcid: rejected: malformed: payload is not a JSON object without duplicates: invalid character or escape after 13 bytes"
# An Ed25519 key of small order (the identity, x = 01 00...00) verifies
# the signature R = identity, S = 0 over any message: such a JWKS is
# refused, and the token forged with it never verifies.
"$PY" - "$T" "$NOW" <<'PYEOF'
import base64, json, sys
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
d, now = sys.argv[1], int(sys.argv[2])
json.dump({"iss": "svcid://victim", "keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
           "kid": "k1", "x": b(b"\x01" + b"\0" * 31)}]}, open(d + "/victim.jwks", "w"))
h = b(b'{"alg":"EdDSA","kid":"k1","typ":"JWT"}')
p = b(json.dumps({"iss": "svcid://victim", "sub": "root", "aud": "ci:build", "iat": now, "exp": now + 300}).encode())
open(d + "/forged", "w").write(h + "." + p + "." + b(b"\x01" + b"\0" * 63))
PYEOF
run 2 "an Ed25519 key of small order in a JWKS" "$SVCID" verify -a ci:build --trust "$T/victim.jwks" "$(cat "$T/forged")"
has "$ERR" "Ed25519 public key is a point of small order"
empty "$OUT"

# ---- the example program of libsvcid(3) ---------------------------------
# The manual's example is code people copy: it must build against the
# library and do what the page says.
echo "check: svcid.pc names -lsvcid"
PKG_CONFIG_PATH=$SVCID_BUILD pkg-config --libs svcid | grep -q -- -lsvcid || fail "svcid.pc lacks -lsvcid"
if ! command -v cc >/dev/null; then
        fail "no C compiler to build the libsvcid(3) example"
fi
awk '/^# EXAMPLE/ { on = 1 } on && /^```/ { n++; next } on && n == 1 { print }' \
        "${SVCID_SRC:-.}/man/libsvcid.3.scd" | sed 's/\\\\/\\/g' >"$T/verify-example.c"
grep -q svcid_verify "$T/verify-example.c" || fail "could not extract the libsvcid(3) example"
san=
[[ "$SVCID_BUILD" == */asan ]] && san="-fsanitize=address,undefined"
echo "check: the libsvcid(3) example compiles"
cc $san -Wall -Wextra -Werror -o "$T/verify-example" "$T/verify-example.c" \
        -I"${SVCID_SRC:-.}/include" -L"$SVCID_BUILD" -lsvcid 2>"$ERR" || fail "example does not compile"
printf '%s\n' "$VALID" > "$T/token.in"
run_in 0 "the example accepts a valid token with roles=deploy" "$T/token.in" \
        env LD_LIBRARY_PATH="$SVCID_BUILD" "$T/verify-example" "$JWKS" ci:build
[ "$(cat "$OUT")" = deploy-bot ] || fail "example printed '$(cat "$OUT")', want deploy-bot"
printf '%s\n' "$EXPIRED" > "$T/token.in"
run_in 1 "the example rejects an expired token" "$T/token.in" \
        env LD_LIBRARY_PATH="$SVCID_BUILD" "$T/verify-example" "$JWKS" ci:build
has "$ERR" "rejected: expired: "
NOROLE=$(mint "$(claims "$NOW" $((NOW + 300)) ci:build)")
printf '%s\n' "$NOROLE" > "$T/token.in"
run_in 1 "the example requires roles=deploy" "$T/token.in" \
        env LD_LIBRARY_PATH="$SVCID_BUILD" "$T/verify-example" "$JWKS" ci:build
has "$ERR" "rejected: missing_claim: "
printf '%s\n' "$VALID" > "$T/token.in"
run_in 2 "the example refuses an empty trust directory" "$T/token.in" \
        env LD_LIBRARY_PATH="$SVCID_BUILD" "$T/verify-example" "$T/empty.d" ci:build
has "$ERR" "trust: no keys in"


# ---- libcurl: loaded for a talk with the agent, never to verify ---------
# Verifying needs no HTTP client: neither the example nor svcid verify
# maps libcurl (and with it the TLS, LDAP and Kerberos libraries it links);
# svcid token loads it when it asks the agent.
printf '%s\n' "$VALID" > "$T/token.in"
run_in 0 "the example verifies without loading libcurl" "$T/token.in" \
        env LD_DEBUG=files LD_LIBRARY_PATH="$SVCID_BUILD" "$T/verify-example" "$JWKS" ci:build
has "$ERR" "file=libcrypto.so.3"
lacks "$ERR" "libcurl"
run 0 "svcid verify without loading libcurl" env LD_DEBUG=files "$SVCID" verify -a ci:build --trust "$JWKS" "$VALID"
lacks "$ERR" "libcurl"
run 1 "svcid token loads libcurl to ask the agent" env LD_DEBUG=files SVCID_AGENT_SOCKET="$T/nope.sock" "$SVCID" token -a x
has "$ERR" "file=libcurl.so.4"
has "$ERR" "svcid: token: cannot reach the agent at $T/nope.sock: No such file or directory"
# Without libcurl (hidden in a mount namespace of this test), a token
# request says what is missing, and verifying still works.
curl_so=$(realpath -e "$(ldconfig -p | awk '$1 == "libcurl.so.4" { print $NF; exit }')" 2>/dev/null || true)
if [ "$(id -u)" = 0 ] && [ -n "$curl_so" ] && unshare -m true 2>/dev/null; then
        run 1 "svcid token without libcurl" unshare -m sh -c 'mount --bind /dev/null "$1" && shift && exec "$@"' \
                sh "$curl_so" env SVCID_AGENT_SOCKET="$T/nope.sock" "$SVCID" token -a x
        has "$ERR" "svcid: token: cannot load libcurl, needed to talk to the agent: "
        has "$ERR" "libcurl.so.4"
        run 0 "svcid verify without libcurl" unshare -m sh -c 'mount --bind /dev/null "$1" && shift && exec "$@"' \
                sh "$curl_so" "$SVCID" verify -a ci:build --trust "$JWKS" "$VALID"
else
        echo "skip: a token request without libcurl (needs root and mount namespaces)"
fi

echo "t_cli: all checks passed"
