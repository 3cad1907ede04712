#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Mints a JWT with PyJWT and python3-cryptography for libsvcid to verify.

usage: pyjwt_sign.py ALG OUTDIR AUDIENCE

ALG is ES256, EdDSA, RS256 or PS256. Writes into OUTDIR:
  trust.jwks   {"iss": ..., "keys": [public JWK]} — written by Python alone
  token        the compact JWT (header alg/kid/typ, svcid-shaped claims)
  claims.json  the claims that were signed
"""
import json
import os
import sys
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm, RSAPSSAlgorithm

from testkeys import p256_jwk  # beside this file: full-size EC coordinates

ISSUER = "https://pyjwt.interop.example"


def make_key(alg):
    if alg == "ES256":
        priv = ec.generate_private_key(ec.SECP256R1())
        jwk = p256_jwk(priv.public_key())
    elif alg == "EdDSA":
        priv = ed25519.Ed25519PrivateKey.generate()
        jwk = json.loads(OKPAlgorithm.to_jwk(priv.public_key()))
    elif alg in ("RS256", "PS256"):
        priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cls = RSAAlgorithm if alg == "RS256" else RSAPSSAlgorithm
        jwk = json.loads(cls.to_jwk(priv.public_key()))
    else:
        raise SystemExit("pyjwt_sign.py: unknown alg %r" % alg)
    # Any kid will do: the verifier must look keys up by what the JWKS says.
    jwk.update({"kid": "pyjwt-%s-key" % alg.lower(), "alg": alg, "use": "sig"})
    return priv, jwk


def main():
    if len(sys.argv) != 4:
        print("usage: pyjwt_sign.py ALG OUTDIR AUDIENCE", file=sys.stderr)
        return 3
    alg, outdir, audience = sys.argv[1:]
    priv, jwk = make_key(alg)
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "pyjwt-" + alg.lower(),
        "aud": audience,
        "iat": now,
        "exp": now + 300,
        "jti": "pyjwt-jti-" + os.urandom(8).hex(),
        "uid": 4242,
        "unit": "interop.service",
    }
    token = jwt.encode(claims, priv, algorithm=alg, headers={"kid": jwk["kid"]})
    with open(os.path.join(outdir, "trust.jwks"), "w", encoding="ascii") as f:
        json.dump({"iss": ISSUER, "keys": [jwk]}, f)
    with open(os.path.join(outdir, "token"), "w", encoding="ascii") as f:
        f.write(token + "\n")
    with open(os.path.join(outdir, "claims.json"), "w", encoding="ascii") as f:
        json.dump(claims, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
