#!/bin/bash
# SPDX-License-Identifier: MIT
# make demo: svcid end to end in a temporary directory — no root-owned
# state, no systemd. Every step prints the command it runs.
set -euo pipefail
cd "$(dirname "$0")"
B=${SVCID_BUILD:-$PWD/build}
T=$(mktemp -d /tmp/svcid-demo.XXXXXX)
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        rm -rf "$T"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "A fresh ES256 key and a token signed with it (issuer svcid://demo)"
/usr/bin/python3 - "$T" <<'PY'
import json, sys, time, jwt
from cryptography.hazmat.primitives.asymmetric import ec
t = sys.argv[1]
key = ec.generate_private_key(ec.SECP256R1())
jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
jwk.update(kid="demo-1", alg="ES256", use="sig")
json.dump({"iss": "svcid://demo", "keys": [jwk]}, open(f"{t}/demo.jwks", "w"))
now = int(time.time())
claims = {"iss": "svcid://demo", "sub": "deploy-bot", "aud": "api.example.com",
          "iat": now, "exp": now + 300, "jti": "demo-jti-1", "uid": 1000, "gid": 1000}
open(f"{t}/token", "w").write(jwt.encode(claims, key, algorithm="ES256",
                                         headers={"kid": "demo-1", "typ": "JWT"}))
PY
TOKEN=$(cat "$T/token")
run "$B/svcid" inspect "$TOKEN"

step "svcid verify accepts it for its audience"
run "$B/svcid" verify -a api.example.com --trust "$T/demo.jwks" "$TOKEN"

step "... and refuses it for another audience, with the reason"
run "$B/svcid" verify -a ssh:web01 --trust "$T/demo.jwks" "$TOKEN" || echo "(exit $?)"

printf '\nsvcid demo: done\n'
