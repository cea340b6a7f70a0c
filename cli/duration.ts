import { CliError, ExitCode } from './cli-error.ts';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Reads a duration in whole seconds: `300`, `90s`, `5m`, `1h30m`. */
export function parseDurationSeconds(text: string, option: string): number {
  if (/^\d+$/.test(text)) return Number(text);
  if (!/^(\d+[smhd])+$/.test(text)) {
    throw new CliError(`${option} ${JSON.stringify(text)} is invalid: give seconds (300) or a duration such as 90s, 5m or 1h30m.`, ExitCode.usage);
  }
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)([smhd])/g)) total += Number(amount) * UNIT_SECONDS[unit!]!;
  return total;
}

/** Reads a whole number of at least `min` from an option's text. */
export function parseWholeNumber(text: string, option: string, min = 0): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min) {
    throw new CliError(`${option} ${JSON.stringify(text)} is invalid: give a whole number of at least ${min}.`, ExitCode.usage);
  }
  return value;
}
