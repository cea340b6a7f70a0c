import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { containerResolvConf } from './resolv-conf.ts';

describe('containerResolvConf', () => {
  let dir: string;
  const hostPath = () => path.join(dir, 'resolv.conf');
  const upstreamPath = () => path.join(dir, 'upstream-resolv.conf');

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'slipway-resolv-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps reachable nameservers, search domains and options', async () => {
    await writeFile(hostPath(), 'search corp.example\nnameserver 10.255.255.53\noptions edns0 trust-ad\n');

    const text = await containerResolvConf({ hostPath: hostPath(), upstreamPath: upstreamPath(), hostAddresses: [] });

    expect(text).toBe('search corp.example\nnameserver 10.255.255.53\noptions edns0 trust-ad\n');
  });

  it.each([
    ['loopback', '127.0.0.53'],
    ['IPv6', 'fd00::1'],
    ['link-local', '169.254.169.253'],
    ['a host-owned address', '192.0.2.2'],
  ])('drops a %s nameserver', async (_case, server) => {
    await writeFile(hostPath(), `nameserver ${server}\nnameserver 10.1.1.1\n`);

    const text = await containerResolvConf({ hostPath: hostPath(), upstreamPath: upstreamPath(), hostAddresses: ['192.0.2.2'] });

    expect(text).toBe('nameserver 10.1.1.1\n');
  });

  it('falls back to the upstream list of a loopback stub resolver', async () => {
    await writeFile(hostPath(), 'nameserver 127.0.0.53\noptions edns0\n');
    await writeFile(upstreamPath(), 'nameserver 10.2.2.2\n');

    const text = await containerResolvConf({ hostPath: hostPath(), upstreamPath: upstreamPath(), hostAddresses: [] });

    expect(text).toBe('nameserver 10.2.2.2\n');
  });

  it('fails and names the servers when none is reachable', async () => {
    await writeFile(hostPath(), 'nameserver 127.0.0.53\n');

    const result = containerResolvConf({ hostPath: hostPath(), upstreamPath: upstreamPath(), hostAddresses: [] });

    await expect(result).rejects.toMatchObject({ code: 'RESOLV_CONF_UNUSABLE' });
    await expect(result).rejects.toThrow(/127\.0\.0\.53/);
  });
});
