import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grants, parseScopes, RegistryTokenSigner, TOKEN_LIFETIME_S } from './registry-tokens.ts';

describe('parseScopes', () => {
  it.each([
    ['repository:web:pull', [{ type: 'repository', name: 'web', actions: ['pull'] }]],
    ['repository:docker.io/library/debian:pull,push', [{ type: 'repository', name: 'docker.io/library/debian', actions: ['pull', 'push'] }]],
    ['registry:catalog:*', [{ type: 'registry', name: 'catalog', actions: ['*'] }]],
    ['repository:a:pull repository:b:push', [{ type: 'repository', name: 'a', actions: ['pull'] }, { type: 'repository', name: 'b', actions: ['push'] }]],
    ['no-colons', []],
    ['repository:web', []],
  ])('parses %s', (scope, expected) => {
    expect(parseScopes([scope])).toEqual(expected);
  });
});

describe('grants', () => {
  const access = [{ type: 'repository', name: 'web', actions: ['pull'] }, { type: 'registry', name: 'catalog', actions: ['*'] }];

  it.each([
    ['repository', 'web', 'pull', true],
    ['repository', 'web', 'push', false],
    ['repository', 'other', 'pull', false],
    ['registry', 'catalog', 'anything', true],
  ])('grants %s:%s:%s → %s', (type, name, action, expected) => {
    expect(grants(access, type, name, action)).toBe(expected);
  });
});

describe('RegistryTokenSigner', () => {
  let dataDir: string;
  let signer: RegistryTokenSigner;
  const access = [{ type: 'repository', name: 'web', actions: ['pull'] }];

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'slipway-token-signer-'));
    signer = await RegistryTokenSigner.open(dataDir);
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('verifies a token it issued', () => {
    const issued = signer.issue({ tokenId: 'token-id', owner: 'alice' }, access);

    expect(signer.verify(issued.token)).toEqual({ subject: 'token-id', owner: 'alice', access });
  });

  it('keeps one secret across opens of the same data folder', async () => {
    const issued = signer.issue({ tokenId: 'token-id', owner: 'alice' }, access);

    expect((await RegistryTokenSigner.open(dataDir)).verify(issued.token)?.subject).toBe('token-id');
  });

  it('rejects a token of another data folder', async () => {
    const otherDir = await mkdtemp(path.join(tmpdir(), 'slipway-token-signer-other-'));
    try {
      const other = await RegistryTokenSigner.open(otherDir);

      expect(signer.verify(other.issue({ tokenId: 'token-id', owner: 'alice' }, access).token)).toBeNull();
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  it('rejects a token after its lifetime', () => {
    const issuedAt = Date.now();
    const issued = signer.issue({ tokenId: 'token-id', owner: 'alice' }, access, issuedAt);

    expect(signer.verify(issued.token, issuedAt + (TOKEN_LIFETIME_S - 1) * 1000)).not.toBeNull();
    expect(signer.verify(issued.token, issuedAt + (TOKEN_LIFETIME_S + 60) * 1000)).toBeNull();
  });

  it.each(['', 'a.b', 'a.b.c.d', 'not-base64.not-base64.not-base64'])('rejects the malformed token %j', (token) => {
    expect(signer.verify(token)).toBeNull();
  });
});
