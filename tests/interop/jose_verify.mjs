// SPDX-License-Identifier: MIT
// Verifies an svcid token with Node's jose, an independent implementation,
// against a JWKS as served by the agent's GET /v1/jwks.
//
// usage: node jose_verify.mjs JWKS_FILE TOKEN AUDIENCE ISSUER
// Exit 0 and {"header":…,"claims":…} on stdout; 1 rejected; 3 usage.
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, jwtVerify } from 'jose';

const args = process.argv.slice(2);
if (args.length !== 4) {
  console.error('usage: node jose_verify.mjs JWKS_FILE TOKEN AUDIENCE ISSUER');
  process.exit(3);
}
const [jwksFile, token, audience, issuer] = args;
const jwks = JSON.parse(readFileSync(jwksFile, 'utf8'));
const keySet = createLocalJWKSet({ keys: jwks.keys });
try {
  const { payload, protectedHeader } = await jwtVerify(token, keySet, {
    audience,
    issuer,
    algorithms: ['ES256', 'EdDSA', 'RS256', 'PS256'],
    requiredClaims: ['iss', 'sub', 'aud', 'iat', 'exp', 'jti'],
  });
  console.log(JSON.stringify({ header: protectedHeader, claims: payload }));
} catch (e) {
  console.error(`jose: rejected: ${e.code ?? e.name}: ${e.message}`);
  process.exit(1);
}
