import { randomBytes, randomUUID } from 'node:crypto';

import { TokenService, type AccessClaims } from '../../src/auth/token.service';

// The verified-token cache of TokenService.verifyAccess: real HS256 tokens, real WebCrypto.
const config = {
  signingSecret: randomBytes(32).toString('base64'),
  accessTokenTtlSeconds: 900,
  refreshTokenTtlSeconds: 3600,
};
const claims: AccessClaims = { userId: randomUUID(), role: 'NURSE', sessionId: randomUUID(), mfaAt: null };

afterEach(() => {
  jest.restoreAllMocks();
});

describe('verified access tokens', () => {
  it('are checked with the HMAC once, and answer the same claims on every later request', async () => {
    const tokens = new TokenService(config);
    const { token } = await tokens.signAccess(claims);
    const verify = jest.spyOn(globalThis.crypto.subtle, 'verify');

    const first = await tokens.verifyAccess(token);
    const again = await tokens.verifyAccess(token);

    expect(first).toEqual(claims);
    expect(again).toEqual(claims);
    expect(verify).toHaveBeenCalledTimes(1);
  });

  it('stop being accepted once expired (after the clock tolerance), although they were accepted before', async () => {
    const tokens = new TokenService(config);
    const { token, expiresAt } = await tokens.signAccess(claims);
    expect(await tokens.verifyAccess(token)).toEqual(claims);

    jest.spyOn(Date, 'now').mockReturnValue(expiresAt.getTime() + 4_000);
    expect(await tokens.verifyAccess(token)).toEqual(claims);
    jest.spyOn(Date, 'now').mockReturnValue(expiresAt.getTime() + 5_000);
    expect(await tokens.verifyAccess(token)).toBeNull();
  });

  it('do not vouch for a token that differs from them in one character', async () => {
    const tokens = new TokenService(config);
    const { token } = await tokens.signAccess(claims);
    expect(await tokens.verifyAccess(token)).toEqual(claims);

    // A character inside the signature (the last one partly encodes padding bits).
    const at = token.length - 10;
    const forged = token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1);
    expect(await tokens.verifyAccess(forged)).toBeNull();
    const otherSecret = await new TokenService({
      ...config,
      signingSecret: randomBytes(32).toString('base64'),
    }).signAccess(claims);
    expect(await tokens.verifyAccess(otherSecret.token)).toBeNull();
  });

  it('hand each caller its own copy of the claims', async () => {
    const tokens = new TokenService(config);
    const { token } = await tokens.signAccess(claims);
    const first = (await tokens.verifyAccess(token))!;
    first.role = 'ADMIN';

    expect((await tokens.verifyAccess(token))!.role).toBe('NURSE');
  });
});
