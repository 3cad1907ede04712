#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Verifies a libsvcid-signed JWT with PyJWT, an independent implementation.

usage: pyjwt_verify.py JWK_FILE TOKEN_FILE AUDIENCE

The key comes from the public JWK libsvcid exported, through PyJWT's own JWK
parser (jwt.PyJWK), so the JWK format is checked too. On success prints
{"header": {...}, "claims": {...}, "thumbprint": "..."} and exits 0, the
thumbprint being the JWK's RFC 7638 SHA-256 thumbprint as computed here. Exit 1: PyJWT rejected the
signature; exit 2: any other rejection (claims, header, key); exit 3: usage.
"""
import base64
import hashlib
import json
import sys

import jwt


def thumbprint(jwk):
    """RFC 7638: the required members, sorted, no whitespace, SHA-256."""
    required = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}
    members = {k: jwk[k] for k in required[jwk["kty"]]}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def main():
    if len(sys.argv) != 4:
        print("usage: pyjwt_verify.py JWK_FILE TOKEN_FILE AUDIENCE", file=sys.stderr)
        return 3
    with open(sys.argv[1], encoding="ascii") as f:
        jwk = json.load(f)
    with open(sys.argv[2], encoding="ascii") as f:
        token = f.read().strip()
    audience = sys.argv[3]

    try:
        key = jwt.PyJWK(jwk)
        alg = jwk["alg"]
        header = jwt.get_unverified_header(token)
        # The token profile: exactly alg, kid, typ, with the key's kid.
        if sorted(header) != ["alg", "kid", "typ"]:
            raise jwt.InvalidTokenError("header members %r" % sorted(header))
        if header["typ"] != "JWT" or header["alg"] != alg or header["kid"] != jwk["kid"]:
            raise jwt.InvalidTokenError("header %r does not fit the JWK" % header)
        claims = jwt.decode(token, key=key.key, algorithms=[alg], audience=audience,
                            options={"require": ["iss", "sub", "aud", "iat", "exp", "jti"]})
    except jwt.InvalidSignatureError as e:
        print("pyjwt: bad signature: %s" % e, file=sys.stderr)
        return 1
    except (jwt.PyJWTError, KeyError, ValueError) as e:
        print("pyjwt: rejected: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 2
    print(json.dumps({"header": header, "claims": claims, "thumbprint": thumbprint(jwk)}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
