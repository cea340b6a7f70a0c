import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/** Debian's own redirector; used when the host's apt sources name no Debian mirror. */
export const DEFAULT_DEBIAN_MIRROR = 'http://deb.debian.org/debian';
export const DEFAULT_SECURITY_MIRROR = 'http://deb.debian.org/debian-security';

export interface DebianMirrors {
  /** Mirror of the main archive (`bookworm`, `bookworm-updates`). */
  mirror: string;
  /** Mirror of the security archive (`bookworm-security`). */
  securityMirror: string;
}

interface AptSource {
  uris: string[];
  suites: string[];
}

/**
 * Finds the Debian mirrors the host's apt uses for `suite`, from deb822 files in
 * `/etc/apt/sources.list.d/*.sources` and one-line entries in `/etc/apt/sources.list`
 * and `sources.list.d/*.list`. Falls back to deb.debian.org for what it does not find.
 */
export async function readHostDebianMirrors(suite: string, aptDir = '/etc/apt'): Promise<DebianMirrors> {
  const sources = [...(await readDeb822Sources(aptDir)), ...(await readOneLineSources(aptDir))];
  const find = (wanted: string) => sources.find((source) => source.suites.includes(wanted))?.uris.find((uri) => /^https?:\/\//.test(uri));

  return {
    mirror: trimSlash(find(suite) ?? DEFAULT_DEBIAN_MIRROR),
    securityMirror: trimSlash(find(`${suite}-security`) ?? DEFAULT_SECURITY_MIRROR),
  };
}

async function readDeb822Sources(aptDir: string): Promise<AptSource[]> {
  const sources: AptSource[] = [];
  for (const file of await listFiles(path.join(aptDir, 'sources.list.d'), '.sources')) {
    const text = await readFile(file, 'utf8');
    for (const paragraph of text.split(/\n\s*\n/)) {
      const fields = parseDeb822Paragraph(paragraph);
      if (fields.enabled === 'no' || !(fields.types ?? '').split(/\s+/).includes('deb')) continue;
      sources.push({ uris: (fields.uris ?? '').split(/\s+/).filter(Boolean), suites: (fields.suites ?? '').split(/\s+/).filter(Boolean) });
    }
  }
  return sources;
}

/** Parses `Field: value` lines (field names lowercased); comment lines and continuation lines are skipped. */
function parseDeb822Paragraph(paragraph: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of paragraph.split('\n')) {
    const match = line.match(/^([A-Za-z][A-Za-z0-9-]*):\s*(.*)$/);
    if (match?.[1]) fields[match[1].toLowerCase()] = (match[2] ?? '').trim();
  }
  return fields;
}

async function readOneLineSources(aptDir: string): Promise<AptSource[]> {
  const files = [path.join(aptDir, 'sources.list'), ...(await listFiles(path.join(aptDir, 'sources.list.d'), '.list'))];
  const sources: AptSource[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      // deb [options] uri suite [component...]
      const match = line.trim().match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/);
      if (match?.[1] && match[2]) sources.push({ uris: [match[1]], suites: [match[2]] });
    }
  }
  return sources;
}

async function listFiles(folder: string, extension: string): Promise<string[]> {
  const names = await readdir(folder).catch(() => []);
  return names.filter((name) => name.endsWith(extension)).sort().map((name) => path.join(folder, name));
}

function trimSlash(uri: string): string {
  return uri.replace(/\/+$/, '');
}
