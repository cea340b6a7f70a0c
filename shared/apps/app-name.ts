import { ValidationError } from '../errors.ts';

/** An app name is one DNS label, because it becomes the first label of the app's host name. */
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function validateAppName(name: unknown): string {
  if (typeof name !== 'string' || !DNS_LABEL.test(name)) {
    throw new ValidationError(
      'APP_NAME_INVALID',
      `App name ${JSON.stringify(name)} is invalid: use 1-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit (it becomes part of the app's host name).`,
      { details: { name } },
    );
  }
  return name;
}
