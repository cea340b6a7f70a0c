import { runCommand } from '../process/run-command.ts';

/** Marks an overlayfs upper directory whose lower contents are hidden (overlayfs docs, "whiteouts and opaque directories"). */
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';
export const CAPABILITY_XATTR = 'security.capability';
/** Set by overlayfs with `redirect_dir=on` on a renamed directory, and with `metacopy=on` on a file whose data is still in the lower layer. */
export const OVERLAY_REDIRECT_XATTR = 'trusted.overlay.redirect';
export const OVERLAY_METACOPY_XATTR = 'trusted.overlay.metacopy';

/** Extended attributes by path relative to the root ('' is the root), then by attribute name. */
export type TreeXattrs = Map<string, Map<string, Buffer>>;

/**
 * Reads the named extended attributes of every file under `root` with one `getfattr -R`
 * run, which is much faster than one process per directory. Symlinks are not followed.
 */
export async function readTreeXattrs(root: string, names: readonly string[]): Promise<TreeXattrs> {
  const pattern = `^(${names.map(escapeRegExp).join('|')})$`;
  const { stdout } = await runCommand('getfattr', ['-R', '-P', '-h', '-d', '-m', pattern, '-e', 'base64', '.'], { cwd: root });
  return parseGetfattrDump(stdout);
}

/**
 * Parses `getfattr -d -e base64` output: blocks of `# file: <path>` followed by
 * `name=0s<base64>` lines. getfattr writes control characters and backslashes in
 * paths as three-digit octal escapes (`\012`, `\134`).
 */
export function parseGetfattrDump(dump: string): TreeXattrs {
  const result: TreeXattrs = new Map();
  let current: Map<string, Buffer> | undefined;

  for (const line of dump.split('\n')) {
    if (line.startsWith('# file: ')) {
      const filePath = normalizeRelative(unescapeOctal(line.slice('# file: '.length)));
      current = new Map();
      result.set(filePath, current);
      continue;
    }

    const equals = line.indexOf('=');
    if (!current || equals === -1) continue;
    current.set(line.slice(0, equals), decodeValue(line.slice(equals + 1)));
  }
  return result;
}

function decodeValue(encoded: string): Buffer {
  if (encoded.startsWith('0s')) return Buffer.from(encoded.slice(2), 'base64');
  if (encoded.startsWith('0x')) return Buffer.from(encoded.slice(2), 'hex');
  if (encoded.startsWith('"') && encoded.endsWith('"')) return unescapeOctalBytes(encoded.slice(1, -1));
  return Buffer.from(encoded, 'utf8');
}

function unescapeOctal(text: string): string {
  return unescapeOctalBytes(text).toString('utf8');
}

function unescapeOctalBytes(text: string): Buffer {
  const bytes: Buffer[] = [];
  let last = 0;
  for (const match of text.matchAll(/\\([0-7]{3})/g)) {
    bytes.push(Buffer.from(text.slice(last, match.index), 'utf8'), Buffer.from([Number.parseInt(match[1] ?? '0', 8)]));
    last = (match.index ?? 0) + match[0].length;
  }
  bytes.push(Buffer.from(text.slice(last), 'utf8'));
  return Buffer.concat(bytes);
}

function normalizeRelative(filePath: string): string {
  if (filePath === '.') return '';
  return filePath.startsWith('./') ? filePath.slice(2) : filePath;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
