# SPDX-License-Identifier: MIT
"""P-256 public JWKs for the tests' independent issuers, written by Python alone.

Debian 12's PyJWT (2.6) ECAlgorithm.to_jwk drops a coordinate's leading zero
bytes, so about one key in 64 comes out with a 31-byte x or y; RFC 7518
6.2.1.2 requires the full 32 bytes and libsvcid rightly refuses anything
else. Every test builds its EC JWKs here instead.
"""
import base64
import hashlib
import json


def b64u(data):
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def p256_jwk(pub, kid=None):
    """The public JWK of a P-256 key (python3-cryptography): full-size
    coordinates, alg ES256, use sig, and kid, by default the RFC 7638
    thumbprint as svcid-agent names its keys."""
    nums = pub.public_numbers()
    jwk = {"crv": "P-256", "kty": "EC",
           "x": b64u(nums.x.to_bytes(32, "big")), "y": b64u(nums.y.to_bytes(32, "big"))}
    if kid is None:
        canon = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
        kid = b64u(hashlib.sha256(canon).digest())
    jwk.update({"kid": kid, "alg": "ES256", "use": "sig"})
    return jwk
