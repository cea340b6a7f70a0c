import { ValidationError } from '../../shared/errors.ts';

/**
 * The request header that carries a build secret for `RUN --mount=type=secret`:
 * `Slipway-Build-Secret: <id>=<base64 value>`, once per secret (or several pairs in one
 * header, separated by commas, which is how HTTP joins repeated headers). Secret values
 * stay out of URLs, which proxies and access logs record, and out of the context archive.
 */
export const BUILD_SECRET_HEADER = 'slipway-build-secret';

/** Secret ids as BuildKit's `--secret id=...` takes them: they become file names under /run/secrets. */
const SECRET_ID = /^[A-Za-z0-9_.-]{1,128}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;
/** Largest total of secret values in one request, in bytes; Node.js caps all request headers at 16 KiB anyway. */
const MAX_SECRET_BYTES = 12 * 1024;

/** Reads the build secrets of a deploy request from its headers. Messages name the id, never the value. */
export function parseBuildSecrets(headers: Headers): Map<string, Buffer> {
  const secrets = new Map<string, Buffer>();
  const header = headers.get(BUILD_SECRET_HEADER);
  if (header === null) return secrets;

  let total = 0;
  for (const pair of header.split(',').map((part) => part.trim()).filter(Boolean)) {
    const equals = pair.indexOf('=');
    const id = equals === -1 ? pair : pair.slice(0, equals);
    const encoded = equals === -1 ? '' : pair.slice(equals + 1);
    if (!SECRET_ID.test(id)) throw invalidSecret(`the secret id ${JSON.stringify(id.slice(0, 40))} is invalid: use 1 to 128 letters, digits, ".", "_" or "-"`);
    if (encoded === '' || !BASE64.test(encoded)) throw invalidSecret(`the value of secret ${id} is not base64: send ${id}=<base64 of the value>`);
    if (secrets.has(id)) throw invalidSecret(`the secret ${id} is given twice: send each id once`);

    const value = Buffer.from(encoded, 'base64');
    total += value.length;
    if (total > MAX_SECRET_BYTES) throw invalidSecret(`the secrets are larger than ${MAX_SECRET_BYTES} bytes together: keep build secrets to keys and tokens`);
    secrets.set(id, value);
  }
  return secrets;
}

function invalidSecret(reason: string): ValidationError {
  return new ValidationError('BUILD_SECRET_INVALID', `Header Slipway-Build-Secret: ${reason}.`);
}
