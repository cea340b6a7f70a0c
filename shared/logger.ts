import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * The service log: JSON lines on stdout, one event per state change, data in fields.
 * Build output and app output are not written here; they have streams of their own.
 * Paths that could hold a secret are redacted wherever they appear in a log object.
 */
export const rootLogger: Logger = pino({
  level: process.env.SLIPWAY_LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info'),
  base: { pid: process.pid },
  redact: {
    paths: [
      'token',
      '*.token',
      'authorization',
      '*.authorization',
      'headers.authorization',
      'req.headers.authorization',
      'password',
      '*.password',
      'secretAccessKey',
      '*.secretAccessKey',
      'env',
      '*.env',
    ],
    censor: '[redacted]',
  },
});

export function createLogger(component: string, fields: Record<string, unknown> = {}): Logger {
  return rootLogger.child({ component, ...fields });
}
