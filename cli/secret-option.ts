import { readFile } from 'node:fs/promises';
import { CliError, ExitCode } from './cli-error.ts';

/**
 * Reads `--secret` values as `docker buildx build --secret` takes them:
 * `id=NAME,src=FILE` (or `source=`), `id=NAME,env=VARIABLE`, or `id=NAME` for the
 * environment variable NAME. Returns the Slipway-Build-Secret header value: the pairs
 * `NAME=<base64 value>`, separated by commas.
 */
export async function buildSecretHeader(specs: string[], env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  if (specs.length === 0) return null;

  const pairs: string[] = [];
  for (const spec of specs) {
    const fields = new Map(spec.split(',').map((field) => {
      const equals = field.indexOf('=');
      return equals === -1 ? [field, ''] : [field.slice(0, equals), field.slice(equals + 1)];
    }));
    const id = fields.get('id');
    if (!id) throw invalid(spec, 'give id=NAME');
    const value = await secretValue(spec, id, fields, env);
    pairs.push(`${id}=${value.toString('base64')}`);
  }
  return pairs.join(',');
}

async function secretValue(spec: string, id: string, fields: Map<string, string>, env: NodeJS.ProcessEnv): Promise<Buffer> {
  const file = fields.get('src') ?? fields.get('source');
  if (file) {
    return readFile(file).catch((error: NodeJS.ErrnoException) => {
      throw invalid(spec, `the file ${file} is not readable (${error.code})`);
    });
  }
  const variable = fields.get('env') ?? id;
  const value = env[variable];
  if (value === undefined) throw invalid(spec, `the environment variable ${variable} is not set; give src=FILE or env=VARIABLE`);
  return Buffer.from(value);
}

function invalid(spec: string, reason: string): CliError {
  // The spec names files and variables, never a secret's value.
  return new CliError(`--secret ${JSON.stringify(spec)} is invalid: ${reason}.`, ExitCode.usage);
}
