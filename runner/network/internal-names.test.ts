import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rootLogger } from '../../shared/logger.ts';
import { InternalNames, type NameMember } from './internal-names.ts';

describe('InternalNames', () => {
  let dir: string;
  let names: InternalNames;

  const member = (machineId: string, appName: string, owner: string, ipAddress: string, serving = true): NameMember => ({
    machineId,
    appName,
    owner,
    ipAddress,
    hostsPath: path.join(dir, machineId),
    serving,
  });
  const hosts = (machineId: string) => readFile(path.join(dir, machineId), 'utf8');

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'slipway-names-'));
    names = new InternalNames(rootLogger);
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes localhost, the own name and the owner names', async () => {
    await names.upsert(member('m-1', 'db', 'alice', '10.0.1.2'));
    await names.upsert(member('m-2', 'web', 'alice', '10.0.1.3'));

    expect(await hosts('m-2')).toBe(
      '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.0.1.3\tm-2\n10.0.1.2\tdb.internal\n10.0.1.3\tweb.internal\n',
    );
  });

  it('rewrites earlier files when an app of the owner starts serving', async () => {
    await names.upsert(member('m-1', 'web', 'alice', '10.0.1.3'));
    await names.upsert(member('m-2', 'db', 'alice', '10.0.1.2'));

    expect(await hosts('m-1')).toContain('10.0.1.2\tdb.internal');
  });

  it('keeps other owners out of a hosts file', async () => {
    await names.upsert(member('m-1', 'db', 'alice', '10.0.1.2'));
    await names.upsert(member('m-2', 'web', 'bob', '10.0.2.2'));

    expect(await hosts('m-2')).not.toContain('db.internal');
    expect(await hosts('m-1')).not.toContain('web.internal');
  });

  it('lists every serving replica under the app name', async () => {
    await names.upsert(member('m-1', 'db', 'alice', '10.0.1.5'));
    await names.upsert(member('m-2', 'db', 'alice', '10.0.1.4'));

    expect(names.namesOf('alice')).toEqual(new Map([['db.internal', ['10.0.1.4', '10.0.1.5']]]));
  });

  it('leaves out a container that does not serve', async () => {
    await names.upsert(member('m-1', 'db', 'alice', '10.0.1.2', false));
    await names.upsert(member('m-2', 'web', 'alice', '10.0.1.3'));

    expect(await hosts('m-2')).not.toContain('db.internal');

    await names.setServing('m-1', true);

    expect(await hosts('m-2')).toContain('10.0.1.2\tdb.internal');
  });

  it('drops a removed container from the other files', async () => {
    await names.upsert(member('m-1', 'db', 'alice', '10.0.1.2'));
    await names.upsert(member('m-2', 'web', 'alice', '10.0.1.3'));

    await names.remove('m-1');

    expect(await hosts('m-2')).not.toContain('db.internal');
    expect(names.hostsFor('m-1')).toBeUndefined();
  });

  it('ignores a hosts file whose folder is gone', async () => {
    await names.upsert({ ...member('m-1', 'db', 'alice', '10.0.1.2'), hostsPath: path.join(dir, 'gone', 'hosts') });

    await expect(names.upsert(member('m-2', 'web', 'alice', '10.0.1.3'))).resolves.toBeUndefined();
  });
});
