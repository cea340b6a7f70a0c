/** Prints rows as columns separated by two spaces, like `docker ps`. */
export function printTable(headers: string[], rows: string[][], stream: NodeJS.WritableStream = process.stdout): void {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const format = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
  stream.write(`${[format(headers), ...rows.map(format)].join('\n')}\n`);
}

/** Prints `label: value` lines with the values aligned, like `kubectl describe`. */
export function printFields(fields: [string, string][], stream: NodeJS.WritableStream = process.stdout): void {
  const width = Math.max(...fields.map(([label]) => label.length)) + 1;
  stream.write(`${fields.map(([label, value]) => `${`${label}:`.padEnd(width)}  ${value}`).join('\n')}\n`);
}

/** Formats a byte count with binary units: 1536 → "1.5 KiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${Math.round(bytes)} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Formats seconds as BuildKit does: `0.4s`, `12.3s`, and `2m05s` from a minute on. */
export function formatSeconds(seconds: number, decimals = 1): string {
  if (seconds < 60) return `${seconds.toFixed(decimals)}s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes}m${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
}

/** Formats a time as how long ago it was, like `docker ps`: `5 seconds ago`, `3 hours ago`. */
export function formatAgo(time: string | Date, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - new Date(time).getTime()) / 1000));
  const steps: [number, string][] = [
    [86_400, 'day'],
    [3600, 'hour'],
    [60, 'minute'],
    [1, 'second'],
  ];
  for (const [size, unit] of steps) {
    const count = Math.floor(seconds / size);
    if (count >= 1) return `${count} ${unit}${count === 1 ? '' : 's'} ago`;
  }
  return 'just now';
}

/** Returns the first 12 hex digits of a digest, as docker shows image ids. */
export function shortDigest(digest: string | null | undefined): string {
  if (!digest) return '-';
  return digest.replace(/^sha256:/, '').slice(0, 12);
}
