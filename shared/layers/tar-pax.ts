import type { Extract, Header, Pack } from 'tar-stream';

/**
 * Binary PAX records for tar-stream 3.x. tar-stream encodes and decodes PAX values as
 * UTF-8 strings, which corrupts binary extended attributes such as
 * `security.capability` (a `vfs_cap_data` struct). GNU tar and Go's archive/tar (used
 * by docker, containerd and umoci) store `SCHILY.xattr.<name>` values as raw bytes, so
 * these helpers replace the PAX encoding of one Pack instance and capture the raw
 * records of one Extract instance. They rely on tar-stream's internal methods
 * `_encode`, `_encodePax` and `_decodeLongHeader`; the layer tests cover them.
 */

export const XATTR_PAX_PREFIX = 'SCHILY.xattr.';

/** Largest uid or gid that fits the 7 octal digits of a ustar header. */
export const USTAR_MAX_ID = 0o7777777;

const rawRecordsByHeader = new WeakMap<object, Map<string, Buffer>>();
const rawXattrsByPax = new WeakMap<object, Map<string, Buffer>>();

interface PackInternals {
  _encode(header: Record<string, unknown>): void;
  _encodePax(header: Record<string, unknown>): void;
  push(chunk: Buffer): boolean;
}

interface ExtractInternals {
  _header: { type: string } | null;
  _pax: object | null;
  _decodeLongHeader(buffer: Buffer): void;
}

/**
 * Attaches raw PAX records (key to value bytes) to a header before it is passed to
 * `pack.entry`. The header is then written with a PAX extended header by the encoder
 * that `enableRawPax` installs.
 */
export function withPaxRecords<T extends Partial<Header>>(header: T, records: Map<string, Buffer>): T {
  if (records.size === 0) return header;

  const marked = { ...header, pax: { raw: true } };
  rawRecordsByHeader.set(marked, records);
  return marked;
}

/** Replaces the PAX encoder of one pack stream with one that writes values as raw bytes. */
export function enableRawPax(pack: Pack): void {
  const internals = pack as unknown as PackInternals;

  internals._encodePax = (header) => {
    const name = String(header.name);
    const linkname = typeof header.linkname === 'string' && header.linkname !== '' ? header.linkname : undefined;
    const records = new Map<string, Buffer>([['path', Buffer.from(name)]]);
    if (linkname) records.set('linkpath', Buffer.from(linkname));
    for (const [key, value] of rawRecordsByHeader.get(header) ?? []) records.set(key, value);

    const body = encodePaxRecords(records);
    internals._encode({
      name: 'PaxHeader',
      type: 'pax-header',
      size: body.length,
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: header.mtime,
    });
    internals.push(body);
    if (body.length % 512 !== 0) internals.push(Buffer.alloc(512 - (body.length % 512)));

    // The ustar header still has to encode, so it gets ASCII names that fit; readers
    // take the real ones from the PAX records above.
    internals._encode({
      ...header,
      pax: null,
      name: ustarFallbackName(name),
      linkname: linkname ? ustarFallbackName(linkname) : header.linkname,
      uid: Math.min(Number(header.uid ?? 0), USTAR_MAX_ID),
      gid: Math.min(Number(header.gid ?? 0), USTAR_MAX_ID),
    });
  };
}

/** Keeps the raw bytes of `SCHILY.xattr.*` records that one extract stream decodes. */
export function captureRawPax(extract: Extract): void {
  const internals = extract as unknown as ExtractInternals;
  const decode = internals._decodeLongHeader.bind(extract);

  internals._decodeLongHeader = (buffer: Buffer) => {
    decode(buffer);
    if (internals._header?.type !== 'pax-header' || internals._pax === null) return;

    const xattrs = new Map<string, Buffer>();
    for (const [key, value] of decodePaxRecords(buffer)) {
      if (key.startsWith(XATTR_PAX_PREFIX)) xattrs.set(key.slice(XATTR_PAX_PREFIX.length), value);
    }
    rawXattrsByPax.set(internals._pax, xattrs);
  };
}

/** Returns the extended attributes of an entry read through `captureRawPax`, by name. */
export function rawXattrsOf(header: Header): Map<string, Buffer> {
  const pax = header.pax;
  if (typeof pax !== 'object' || pax === null) return new Map();
  return rawXattrsByPax.get(pax) ?? new Map();
}

/** Encodes PAX records as `<length> <key>=<value>\n`, where length counts the whole record. */
export function encodePaxRecords(records: Map<string, Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    const rest = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
    let length = rest.length + String(rest.length).length;
    if (String(length).length > String(rest.length).length) length += 1;
    parts.push(Buffer.from(String(length)), rest);
  }
  return Buffer.concat(parts);
}

export function decodePaxRecords(buffer: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let offset = 0;

  while (offset < buffer.length) {
    const space = buffer.indexOf(0x20, offset);
    if (space === -1) break;
    const length = Number.parseInt(buffer.subarray(offset, space).toString('ascii'), 10);
    if (!Number.isSafeInteger(length) || length <= 0 || offset + length > buffer.length) break;

    const record = buffer.subarray(space + 1, offset + length - 1);
    const equals = record.indexOf(0x3d);
    if (equals !== -1) records.set(record.subarray(0, equals).toString('utf8'), Buffer.from(record.subarray(equals + 1)));
    offset += length;
  }
  return records;
}

function ustarFallbackName(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_');
  return ascii.length > 99 ? ascii.slice(ascii.length - 99) : ascii;
}
