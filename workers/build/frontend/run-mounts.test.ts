import { describe, expect, it } from 'vitest';
import type { RawMount } from './instruction-types.ts';
import { evaluateMount, parseByteSize, parseCsvRecord, parseMountFlag, UnsupportedMountError } from './run-mounts.ts';

/** Parses and evaluates a `--mount` value with `$NAME` set to `cache-name`, in the working directory /work. */
function mount(spec: string) {
  const { fromText: _fromText, ...parsed } = parseMountFlag(spec);
  const raw: RawMount = { ...parsed, from: { kind: 'context' } };
  const expand = (word: string) => word.replace('$NAME', 'cache-name');
  return evaluateMount(raw, expand, '/work');
}

describe('parseCsvRecord', () => {
  it.each([
    ['type=cache,target=/x', ['type=cache', 'target=/x']],
    ['"target=/a,b",ro', ['target=/a,b', 'ro']],
    ['"id=say ""hi"""', ['id=say "hi"']],
    ['a,,b', ['a', '', 'b']],
  ])('splits %s', (text, fields) => {
    expect(parseCsvRecord(text)).toEqual(fields);
  });

  it.each(['"open', 'a"b', '"x"y'])('rejects %s', (text) => {
    expect(() => parseCsvRecord(text)).toThrow();
  });
});

describe('RUN --mount defaults', () => {
  it.each([
    ['a bind mount of the context, read-only', 'target=/src', { type: 'bind', target: '/src', source: '/', readOnly: true, from: { kind: 'context' } }],
    ['a writable bind mount with a source', 'type=bind,source=app,target=/src,rw', { type: 'bind', target: '/src', source: '/app', readOnly: false }],
    ['a relative target below the working directory', 'type=bind,dst=src', { type: 'bind', target: '/work/src' }],
    [
      'a cache named by its target',
      'type=cache,target=/root/.cache',
      { type: 'cache', target: '/root/.cache', id: '/root/.cache', sharing: 'shared', readOnly: false, mode: 0o755, uid: 0, gid: 0 },
    ],
    [
      'a locked cache with an id, owner and mode',
      'type=cache,id=$NAME,target=/var/cache/apt,sharing=locked,uid=1000,gid=1000,mode=0700',
      { type: 'cache', id: 'cache-name', sharing: 'locked', mode: 0o700, uid: 1000, gid: 1000 },
    ],
    ['a tmpfs with a size', 'type=tmpfs,target=/tmp,size=64m', { type: 'tmpfs', target: '/tmp', sizeBytes: 64 * 1024 * 1024 }],
    ['a secret at its default path', 'type=secret,id=token', { type: 'secret', id: 'token', target: '/run/secrets/token', required: false, mode: 0o400, uid: 0, gid: 0 }],
    ['a secret named by its target', 'type=secret,target=/root/.npmrc,required', { type: 'secret', id: '.npmrc', target: '/root/.npmrc', required: true }],
    ['a secret as an environment variable only', 'type=secret,id=API_KEY,env=API_KEY', { type: 'secret', id: 'API_KEY', env: 'API_KEY' }],
    ['a secret named by source', 'type=secret,source=aws,target=/root/.aws/credentials', { type: 'secret', id: 'aws' }],
  ])('gives %s', (_name, spec, expected) => {
    expect(mount(spec)).toMatchObject(expected);
  });

  it('mounts an env-only secret as no file', () => {
    expect(mount('type=secret,id=API_KEY,env=API_KEY')).not.toHaveProperty('target');
  });
});

describe('RUN --mount errors', () => {
  it.each([
    ['an unknown field', 'type=cache,target=/x,colour=red', /unknown field "colour"/],
    ['an unknown type', 'type=volume,target=/x', /type "volume"/],
    ['a field of another type', 'type=bind,target=/x,sharing=locked', /sharing does not apply to type=bind/],
    ['a value-less field that needs a value', 'type=cache,target', /without a value/],
    ['a missing target', 'type=cache,id=x', /needs a target/],
    ['the root as target', 'type=tmpfs,target=/', /cannot be a mount point/],
    ['an unknown sharing mode', 'type=cache,target=/x,sharing=exclusive', /sharing=exclusive/],
    ['a mode that is not octal', 'type=cache,target=/x,mode=rwx', /mode=rwx/],
    ['a secret without a name', 'type=secret,env=TOKEN', /names no secret/],
    ['a secret with source and id', 'type=secret,source=a,id=b', /both source and id/],
    ['a secret with a relative target', 'type=secret,id=a,target=rel/path', /relative target/],
    ['a bad size', 'type=tmpfs,target=/t,size=lots', /size=lots/],
    ['a bad boolean', 'type=bind,target=/x,ro=maybe', /ro|readonly=maybe/],
  ])('rejects %s', (_name, spec, message) => {
    expect(() => mount(spec)).toThrow(message);
  });

  it('rejects an ssh mount as unsupported', () => {
    expect(() => mount('type=ssh')).toThrow(UnsupportedMountError);
  });
});

describe('parseByteSize', () => {
  it.each([
    ['1024', 1024],
    ['64m', 64 * 1024 ** 2],
    ['1g', 1024 ** 3],
    ['512MiB', 512 * 1024 ** 2],
    ['2KB', 2048],
  ])('reads %s', (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });
});
