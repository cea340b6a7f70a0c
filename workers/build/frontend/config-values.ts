import type { StageConfig } from './evaluated-step.ts';
import type { HealthcheckInstruction } from './instruction-types.ts';

/**
 * Parsers for the values that instructions write into the image config: port specs,
 * stop signals, healthcheck durations and file modes. Each throws an Error whose message
 * names the value; the evaluator adds the Dockerfile line.
 */

const PROTOCOLS = new Set(['tcp', 'udp', 'sctp']);

/**
 * Turns an EXPOSE word (`5000`, `5000/tcp`, `53/UDP`, `8000-8002`) into the config's
 * `port/protocol` keys. TCP is the default protocol, and a range gives one key per port
 * as docker writes it. Host parts (`8080:80`) are rejected: EXPOSE declares container ports.
 */
export function parseExposedPorts(spec: string): string[] {
  const [ports = '', protocolText, ...extra] = spec.split('/');
  const protocol = (protocolText ?? 'tcp').toLowerCase();
  if (extra.length > 0 || !PROTOCOLS.has(protocol)) {
    throw new Error(`${JSON.stringify(spec)} is not a port: write PORT or PORT/PROTOCOL with tcp, udp or sctp, such as 5000/tcp`);
  }
  if (ports.includes(':')) {
    throw new Error(`${JSON.stringify(spec)} maps a host port: EXPOSE takes only container ports, such as 80 or 80/tcp`);
  }

  const match = /^(\d+)(?:-(\d+))?$/.exec(ports);
  const first = Number(match?.[1]);
  const last = match?.[2] === undefined ? first : Number(match[2]);
  if (!match || !isPort(first) || !isPort(last) || last < first) {
    throw new Error(`${JSON.stringify(spec)} is not a valid port or range: ports are 1 to 65535, such as 5000 or 8000-8010`);
  }

  const keys: string[] = [];
  for (let port = first; port <= last; port += 1) keys.push(`${port}/${protocol}`);
  return keys;
}

function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65535;
}

const SIGNAL_NAMES = new Set([
  'ABRT', 'ALRM', 'BUS', 'CHLD', 'CLD', 'CONT', 'FPE', 'HUP', 'ILL', 'INT', 'IO', 'IOT', 'KILL',
  'PIPE', 'POLL', 'PROF', 'PWR', 'QUIT', 'SEGV', 'STKFLT', 'STOP', 'SYS', 'TERM', 'TRAP', 'TSTP',
  'TTIN', 'TTOU', 'UNUSED', 'URG', 'USR1', 'USR2', 'VTALRM', 'WINCH', 'XCPU', 'XFSZ',
  'RTMIN', 'RTMAX',
]);

/**
 * Checks a STOPSIGNAL value the way docker does: a signal number from 1 to 64, or a
 * Linux signal name with or without `SIG` in any case (`SIGTERM`, `term`,
 * `SIGRTMIN+3`). The value is stored as written.
 */
export function checkStopSignal(value: string): string {
  if (/^\d+$/.test(value)) {
    const number = Number(value);
    if (number >= 1 && number <= 64) return value;
    throw new Error(`signal number ${value} is out of range: use 1 to 64`);
  }

  const name = value.toUpperCase().replace(/^SIG/, '');
  const realtime = /^RTMIN\+(\d+)$/.exec(name) ?? /^RTMAX-(\d+)$/.exec(name);
  if (SIGNAL_NAMES.has(name) || (realtime && Number(realtime[1]) >= 1 && Number(realtime[1]) <= 15)) return value;
  throw new Error(`${JSON.stringify(value)} is not a signal: use a name such as SIGTERM or SIGQUIT, or a number such as 15`);
}

const NANOSECONDS_PER_UNIT: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3,
  'μs': 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Healthcheck durations shorter than this are rejected, as docker does (1 ms). */
const MINIMUM_DURATION_NS = 1e6;

/**
 * Parses a Go duration (`30s`, `1m30s`, `1.5h`, `250ms`) into nanoseconds, the unit of
 * the image config's Healthcheck fields. `0` means "use the runtime's default".
 */
export function parseHealthcheckDuration(option: string, text: string): number {
  if (text === '0') return 0;
  const pattern = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
    total += Number(match[1]) * NANOSECONDS_PER_UNIT[match[2]!]!;
    consumed = pattern.lastIndex;
  }

  if (text === '' || consumed !== text.length) {
    throw new Error(`--${option}=${text} is not a duration: write a number with a unit, such as 30s, 1m30s or 500ms`);
  }
  if (total !== 0 && total < MINIMUM_DURATION_NS) throw new Error(`--${option}=${text} is shorter than the minimum of 1ms`);
  return Math.round(total);
}

export function parseRetries(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) > 2 ** 31 - 1) {
    throw new Error(`--retries=${text} is not a whole number of zero or more`);
  }
  return Number(text);
}

/** Sets `NAME=value` in an environment list, replacing an entry of the same name in place. */
export function setEnvironmentVariable(env: readonly string[], name: string, value: string): string[] {
  const entry = `${name}=${value}`;
  const index = env.findIndex((existing) => environmentName(existing) === name);
  if (index === -1) return [...env, entry];
  return env.map((existing, position) => (position === index ? entry : existing));
}

export function environmentName(entry: string): string {
  const equals = entry.indexOf('=');
  return equals === -1 ? entry : entry.slice(0, equals);
}

/** Reads an image config's Env list into a map; an entry without `=` is an empty value. */
export function environmentMap(env: readonly string[] | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of env ?? []) {
    const equals = entry.indexOf('=');
    map.set(equals === -1 ? entry : entry.slice(0, equals), equals === -1 ? '' : entry.slice(equals + 1));
  }
  return map;
}

/** Builds the config's Healthcheck; options left out or set to 0 are omitted, as docker writes them. */
export function healthcheck(instruction: HealthcheckInstruction): StageConfig['Healthcheck'] {
  const check = instruction.check;
  if (check.type === 'none') return { Test: ['NONE'] };

  const test = check.command.form === 'exec' ? ['CMD', ...check.command.args] : ['CMD-SHELL', check.command.script];
  const config: NonNullable<StageConfig['Healthcheck']> = { Test: test };
  const { interval, timeout, startPeriod, startInterval, retries } = check.options;
  const durations = [
    ['Interval', 'interval', interval],
    ['Timeout', 'timeout', timeout],
    ['StartPeriod', 'start-period', startPeriod],
    ['StartInterval', 'start-interval', startInterval],
  ] as const;
  for (const [field, option, text] of durations) {
    const nanoseconds = text === undefined ? 0 : parseHealthcheckDuration(option, text);
    if (nanoseconds > 0) config[field] = nanoseconds;
  }
  const retryCount = retries === undefined ? 0 : parseRetries(retries);
  if (retryCount > 0) config.Retries = retryCount;
  return config;
}
