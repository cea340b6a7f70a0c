import path from 'node:path';
import type { RunMount } from './evaluated-step.ts';
import type { RawMount } from './instruction-types.ts';

/**
 * `RUN --mount` flags as the Dockerfile reference describes them ("RUN --mount"): the
 * value is one CSV record of `key=value` fields. Parsing checks the keys and the type.
 * Evaluation substitutes variables in the values (as BuildKit does) and applies the
 * defaults of each type. Both throw a plain Error whose message names the field, and the
 * caller adds the Dockerfile line.
 */

export const MOUNT_TYPES = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'] as const;
type MountType = (typeof MOUNT_TYPES)[number];

/** Field names and the spellings BuildKit accepts for them. */
const KEY_ALIASES: Readonly<Record<string, string>> = {
  type: 'type', from: 'from', source: 'source', src: 'source', target: 'target', dst: 'target', destination: 'target',
  readonly: 'readonly', ro: 'readonly', readwrite: 'readwrite', rw: 'readwrite', required: 'required', id: 'id',
  sharing: 'sharing', mode: 'mode', uid: 'uid', gid: 'gid', env: 'env', size: 'size',
};

/** Keys that may stand alone, without `=value`, meaning true. */
const BARE_KEYS = new Set(['readonly', 'readwrite', 'required']);

/** Which mount types accept a key beyond type, target and the read-only switches. */
const KEYS_BY_TYPE: Readonly<Record<string, readonly MountType[]>> = {
  from: ['bind', 'cache'],
  source: ['bind', 'cache', 'secret'],
  id: ['cache', 'secret'],
  sharing: ['cache'],
  mode: ['cache', 'secret'],
  uid: ['cache', 'secret'],
  gid: ['cache', 'secret'],
  required: ['secret'],
  env: ['secret'],
  size: ['tmpfs'],
};

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parses a `--mount` value into its fields; `from` is resolved later by the plan. */
export function parseMountFlag(spec: string): Omit<RawMount, 'from'> & { fromText?: string } {
  const fields = parseCsvRecord(spec).map((field) => {
    const equals = field.indexOf('=');
    const rawKey = (equals === -1 ? field : field.slice(0, equals)).toLowerCase();
    const key = KEY_ALIASES[rawKey];
    if (key === undefined) throw new Error(`--mount=${spec} has the unknown field ${JSON.stringify(rawKey)}: use ${Object.keys(KEY_ALIASES).join(', ')}`);
    if (equals === -1 && !BARE_KEYS.has(key)) throw new Error(`--mount=${spec} has the field ${JSON.stringify(field)} without a value: write ${key}=VALUE`);
    return equals === -1 ? { key } : { key, value: field.slice(equals + 1) };
  });

  const type = (fields.find((field) => field.key === 'type')?.value ?? 'bind').toLowerCase();
  if (!(MOUNT_TYPES as readonly string[]).includes(type)) throw new Error(`--mount=${spec} has the type ${JSON.stringify(type)}: use ${MOUNT_TYPES.join(', ')}`);
  for (const field of fields) {
    const allowed = KEYS_BY_TYPE[field.key];
    if (allowed && !allowed.includes(type as MountType)) throw new Error(`--mount=${spec}: the field ${field.key} does not apply to type=${type} mounts`);
  }
  return { spec, type, fields, fromText: fields.find((field) => field.key === 'from')?.value };
}

/**
 * Splits one CSV record as Go's encoding/csv reads it: fields between commas, a field
 * in double quotes may contain commas, and `""` inside it is one quote.
 */
export function parseCsvRecord(text: string): string[] {
  const fields: string[] = [];
  let position = 0;
  for (;;) {
    let field = '';
    if (text[position] === '"') {
      position += 1;
      for (;;) {
        const quote = text.indexOf('"', position);
        if (quote === -1) throw new Error(`${text} has an unterminated quoted field`);
        field += text.slice(position, quote);
        position = quote + 1;
        if (text[position] !== '"') break;
        field += '"';
        position += 1;
      }
      if (position < text.length && text[position] !== ',') throw new Error(`${text} has text after a closing quote`);
    } else {
      const comma = text.indexOf(',', position);
      field = text.slice(position, comma === -1 ? text.length : comma);
      if (field.includes('"')) throw new Error(`${text} has a quote inside an unquoted field`);
      position = comma === -1 ? text.length : comma;
    }
    fields.push(field);
    if (position >= text.length) return fields;
    position += 1;
  }
}

interface MountValues {
  get(key: string): string | undefined;
  flag(key: string): boolean | undefined;
}

/** Substitutes the values of a parsed mount and returns it with every default applied. `workdir` anchors a relative target. */
export function evaluateMount(raw: RawMount, expand: (word: string) => string, workdir: string): RunMount {
  const values = mountValues(raw, expand);
  const type = raw.type as MountType;
  if (type === 'ssh') {
    throw new UnsupportedMountError('RUN --mount=type=ssh is not supported: Slipway forwards no SSH agent to builds, so pass a key as a secret (--mount=type=secret) or fetch the files before the build');
  }
  if (type === 'secret') return evaluateSecret(raw, values);

  const target = mountTarget(raw, values.get('target'), workdir);
  if (type === 'tmpfs') return { type, target, ...(values.get('size') === undefined ? {} : { sizeBytes: parseByteSize(values.get('size')!) }) };

  const source = path.posix.join('/', values.get('source') ?? '/');
  const readOnly = readOnlyFlag(values, type === 'bind');
  if (type === 'bind') return { type, target, from: raw.from, source, readOnly };

  const sharing = (values.get('sharing') ?? 'shared').toLowerCase();
  if (sharing !== 'shared' && sharing !== 'private' && sharing !== 'locked') {
    throw new Error(`--mount=${raw.spec} has sharing=${sharing}: use shared, private or locked`);
  }
  return {
    type,
    target,
    id: values.get('id') || target,
    sharing,
    ...(values.get('from') === undefined ? {} : { from: raw.from }),
    source,
    readOnly,
    ...ownership(raw, values, 0o755),
  };
}

function evaluateSecret(raw: RawMount, values: MountValues): RunMount {
  const source = values.get('source');
  const idValue = values.get('id');
  if (source !== undefined && idValue !== undefined) throw new Error(`--mount=${raw.spec} sets both source and id: they are the same field of a secret, so keep one`);

  const target = values.get('target');
  const env = values.get('env');
  const id = source ?? idValue ?? (target === undefined ? undefined : path.posix.basename(target));
  if (id === undefined || id === '') throw new Error(`--mount=${raw.spec} names no secret: give id=NAME (or a target whose file name is the id)`);
  if (env !== undefined && !ENV_NAME.test(env)) throw new Error(`--mount=${raw.spec} has env=${env}, which is not a variable name`);

  // Without env the secret is a file, by default /run/secrets/<id>. With env it is a file only when a target is given.
  const file = target ?? (env === undefined ? `/run/secrets/${path.posix.basename(id)}` : undefined);
  if (file !== undefined && !file.startsWith('/')) throw new Error(`--mount=${raw.spec} has the relative target ${file}: give an absolute path`);
  return {
    type: 'secret',
    id,
    ...(file === undefined ? {} : { target: path.posix.normalize(file) }),
    ...(env === undefined ? {} : { env }),
    required: values.flag('required') ?? false,
    ...ownership(raw, values, 0o400),
  };
}

function mountValues(raw: RawMount, expand: (word: string) => string): MountValues {
  const expanded = new Map<string, string | undefined>();
  for (const field of raw.fields) expanded.set(field.key, field.value === undefined ? undefined : field.key === 'from' ? field.value : expand(field.value));
  return {
    get: (key) => expanded.get(key) ?? undefined,
    flag: (key) => {
      if (!expanded.has(key)) return undefined;
      const value = expanded.get(key);
      if (value === undefined) return true;
      if (/^(1|t|true)$/i.test(value)) return true;
      if (/^(0|f|false)$/i.test(value)) return false;
      throw new Error(`--mount=${raw.spec} has ${key}=${value}: use true or false`);
    },
  };
}

function mountTarget(raw: RawMount, target: string | undefined, workdir: string): string {
  if (target === undefined || target === '') throw new Error(`--mount=${raw.spec} needs a target: add target=PATH`);
  const resolved = path.posix.resolve(workdir, target);
  if (resolved === '/') throw new Error(`--mount=${raw.spec} has the target /, which cannot be a mount point: choose a folder below it`);
  return resolved;
}

/** `rw` makes a bind mount writable (its writes are then thrown away); `ro` makes a cache or tmpfs read-only. */
function readOnlyFlag(values: MountValues, readOnlyByDefault: boolean): boolean {
  const readOnly = values.flag('readonly');
  const readWrite = values.flag('readwrite');
  if (readOnly !== undefined) return readOnly;
  if (readWrite !== undefined) return !readWrite;
  return readOnlyByDefault;
}

function ownership(raw: RawMount, values: MountValues, defaultMode: number): { mode: number; uid: number; gid: number } {
  const number = (key: string, radix: number, fallback: number) => {
    const text = values.get(key);
    if (text === undefined) return fallback;
    const valid = radix === 8 ? /^[0-7]{1,4}$/.test(text) : /^\d{1,10}$/.test(text) && Number(text) <= 0xffffffff;
    if (!valid) throw new Error(`--mount=${raw.spec} has ${key}=${text}: give ${radix === 8 ? 'an octal mode such as 0755' : 'a whole number'}`);
    return Number.parseInt(text, radix);
  };
  return { mode: number('mode', 8, defaultMode), uid: number('uid', 10, 0), gid: number('gid', 10, 0) };
}

const BYTE_UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** Reads a size such as `64m`, `1g`, `512MiB` or `1048576`, in binary units as docker's RAMInBytes does. */
export function parseByteSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i.exec(text.trim());
  if (!match) throw new Error(`size=${text} is not a size: write a number with an optional unit, such as 64m or 1g`);
  return Math.floor(Number(match[1]) * BYTE_UNITS[match[2]!.toLowerCase()]!);
}

/** A mount type that Slipway recognises but does not provide; the evaluator turns it into DOCKERFILE_UNSUPPORTED. */
export class UnsupportedMountError extends Error {
  override readonly name = 'UnsupportedMountError';
}
