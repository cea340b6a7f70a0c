import { describe, expect, it } from 'vitest';
import { pinRemoteArgs, remoteEndpoint } from './git-source.ts';

describe('remoteEndpoint', () => {
  it.each([
    ['git://example.com/repo.git', { host: 'example.com', port: 9418, protocol: 'git:' }],
    ['ssh://git@example.com:2222/repo.git', { host: 'example.com', port: 2222, protocol: 'ssh:' }],
    ['git@example.com:team/repo.git', { host: 'example.com', port: 22, protocol: 'ssh:' }],
    ['https://example.com/team/repo.git', { host: 'example.com', port: 443, protocol: 'https:' }],
  ])('reads %s', (remote, endpoint) => {
    expect(remoteEndpoint(remote)).toEqual(endpoint);
  });
});

describe('pinRemoteArgs', () => {
  it('pins an https remote by name, keeping the URL', () => {
    expect(pinRemoteArgs('https://example.com/repo.git', '192.0.2.7', 'https:', 443)).toEqual(['-c', 'http.curloptResolve=example.com:443:192.0.2.7']);
  });

  it('rewrites a git:// remote to the address, keeping its port and path', () => {
    expect(pinRemoteArgs('git://Example.com:9419/repo.git', '192.0.2.7', 'git:', 9419)).toEqual(['-c', 'url.git://192.0.2.7.insteadOf=git://Example.com']);
  });

  it('rewrites an ssh remote with its user, and an IPv6 address in brackets', () => {
    expect(pinRemoteArgs('ssh://git@example.com/repo.git', '2001:db8::7', 'ssh:', 22)).toEqual(['-c', 'url.ssh://git@[2001:db8::7].insteadOf=ssh://git@example.com']);
  });

  it('rewrites the scp-like form', () => {
    expect(pinRemoteArgs('git@example.com:team/repo.git', '192.0.2.7', 'ssh:', 22)).toEqual(['-c', 'url.git@192.0.2.7:.insteadOf=git@example.com:']);
  });
});
