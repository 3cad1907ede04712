#!/bin/bash
# SPDX-License-Identifier: MIT
# Tokens minted by a real agent, verified by independent implementations
# using the agent's GET /v1/jwks: PyJWT (Debian's python3-jwt), Node's jose
# (from npm, tests/interop/package-lock.json), and svcid verify with the
# jwks.json file — for each algorithm the agent signs with.
set -euo pipefail
. "$(dirname "$0")/t_agent_common.sh"

"$PY" -c 'import jwt, cryptography' 2>/dev/null || skip "$PY lacks python3-jwt / python3-cryptography"

cat > "$T/pyjwt.py" <<'PY'
# pyjwt.py JWKS_FILE TOKEN AUD ISS: PyJWT with its own JWK Set parser.
import json, sys
import jwt
jwks_file, token, aud, iss = sys.argv[1:]
with open(jwks_file) as f:
    doc = json.load(f)
keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict({"keys": doc["keys"]}).keys}
algs = {k["kid"]: k["alg"] for k in doc["keys"]}
try:
    header = jwt.get_unverified_header(token)
    if sorted(header) != ["alg", "kid", "typ"] or header["typ"] != "JWT":
        raise jwt.InvalidTokenError("header %r" % header)
    key = keys[header["kid"]]
    if algs[header["kid"]] != header["alg"]:
        raise jwt.InvalidTokenError("alg %s does not fit the key" % header["alg"])
    claims = jwt.decode(token, key=key.key, algorithms=[header["alg"]], audience=aud, issuer=iss,
                        options={"require": ["iss", "sub", "aud", "iat", "exp", "jti"]})
except (jwt.PyJWTError, KeyError) as e:
    print("pyjwt: rejected: %s: %s" % (type(e).__name__, e), file=sys.stderr)
    sys.exit(1)
print(json.dumps({"header": header, "claims": claims}, sort_keys=True))
PY

NODE_OK=0
INTEROP=$SVCID_SRC/tests/interop
if command -v node >/dev/null && command -v npm >/dev/null; then
        if [ "$(node -p 'require("'"$INTEROP"'/node_modules/jose/package.json").version' 2>/dev/null)" = \
             "$(jq -r '.packages["node_modules/jose"].version' "$INTEROP/package-lock.json")" ]; then
                NODE_OK=1
        elif (cd "$INTEROP" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) >"$T/npm.log" 2>&1; then
                NODE_OK=1
        else
                echo "note: npm ci failed (registry unreachable?):"; tail -n 5 "$T/npm.log"
        fi
else
        echo "note: node or npm not installed"
fi

# verify_all ALG AUD: a token from the agent, checked by every verifier.
verify_all() {
        local alg=$1 aud=$2 iss out
        get_token "$aud"
        http /v1/jwks
        echo "$BODY" > "$T/jwks.json"
        iss=$(jq -r .iss "$T/jwks.json")
        out=$("$PY" "$T/pyjwt.py" "$T/jwks.json" "$TOK" "$aud" "$iss") || fail "$alg: PyJWT rejected the agent's token"
        [ "$(jq -r .header.alg <<<"$out")" = "$alg" ] || fail "$alg: PyJWT saw $(jq -r .header.alg <<<"$out")"
        [ "$(jq -r .claims.sub <<<"$out")" = "$(id -un)" ] || fail "$alg: PyJWT claims $out"
        if "$PY" "$T/pyjwt.py" "$T/jwks.json" "$TOK" other-aud "$iss" 2>/dev/null; then fail "$alg: PyJWT accepted a wrong audience"; fi
        # flip one character in the middle of the signature
        local sig=${TOK##*.} c
        c=${sig:10:1}; [ "$c" = A ] && c=B || c=A
        BAD=${TOK%.*}.${sig:0:10}$c${sig:11}
        if "$PY" "$T/pyjwt.py" "$T/jwks.json" "$BAD" "$aud" "$iss" 2>/dev/null; then
                fail "$alg: PyJWT accepted a tampered signature"
        fi
        "$CLI" verify -a "$aud" --trust "$STATE/jwks.json" "$TOK" >/dev/null || fail "$alg: svcid verify rejected it"
        if "$CLI" verify -a "$aud" --trust "$STATE/jwks.json" "$BAD" 2>/dev/null; then fail "$alg: svcid verify accepted a tampered token"; fi
        if [ "$NODE_OK" = 1 ]; then
                out=$(cd "$INTEROP" && node jose_verify.mjs "$T/jwks.json" "$TOK" "$aud" "$iss") ||
                        fail "$alg: jose rejected the agent's token"
                [ "$(jq -r .header.alg <<<"$out")" = "$alg" ] || fail "$alg: jose saw $out"
                [ "$(jq -r .claims.jti <<<"$out")" = "$(claims "$TOK" | jq -r .jti)" ] || fail "$alg: jose claims $out"
                if (cd "$INTEROP" && node jose_verify.mjs "$T/jwks.json" "$TOK" other-aud "$iss") 2>/dev/null; then
                        fail "$alg: jose accepted a wrong audience"
                fi
                if (cd "$INTEROP" && node jose_verify.mjs "$T/jwks.json" "$BAD" "$aud" "$iss") 2>/dev/null; then
                        fail "$alg: jose accepted a tampered signature"
                fi
                if (cd "$INTEROP" && node jose_verify.mjs "$T/jwks.json" "$TOK" "$aud" svcid://someone-else) 2>/dev/null; then
                        fail "$alg: jose accepted a wrong issuer"
                fi
        fi
        ok "$alg token verified by PyJWT, $([ "$NODE_OK" = 1 ] && echo "jose, ")and svcid verify; tampering caught"
}

for alg in ES256 EdDSA RS256 PS256; do
        check "$alg"
        printf '[agent]\nissuer = svcid://interop.test\nalgorithm = %s\n' "$alg" > "$T/$alg.conf"
        start_agent "i-$alg" "$T/$alg.conf"
        verify_all "$alg" "interop:$alg"
        stop_agent
done

if [ "$NODE_OK" != 1 ]; then
        echo "SKIP: PyJWT and svcid verify passed for every algorithm, but Node's jose could not be installed"
        exit 77
fi
echo "all interop checks passed"
