import { ValidationError } from '../../shared/errors.ts';

export interface BuildOptions {
  buildArgs: Record<string, string>;
  target?: string;
  noCache: boolean;
}

const ARG_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const STAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Reads the build options of a deploy from its query: `build-arg=NAME=value` (repeated),
 * `target=STAGE` and `no-cache=true`, as `docker build` takes them.
 */
export function parseBuildOptions(query: URLSearchParams): BuildOptions {
  const buildArgs: Record<string, string> = {};
  for (const pair of query.getAll('build-arg')) {
    const equals = pair.indexOf('=');
    const name = equals === -1 ? pair : pair.slice(0, equals);
    if (!ARG_NAME.test(name) || equals === -1) {
      throw new ValidationError(
        'BUILD_ARG_INVALID',
        `Build arg ${JSON.stringify(pair)} is invalid: give NAME=value, with a name of letters, digits and "_".`,
        { details: { buildArg: pair } },
      );
    }
    buildArgs[name] = pair.slice(equals + 1);
  }

  const target = query.get('target') ?? undefined;
  if (target !== undefined && !STAGE_NAME.test(target)) {
    throw new ValidationError('BUILD_TARGET_INVALID', `Target ${JSON.stringify(target)} is not a stage name.`, { details: { target } });
  }

  const noCacheValue = query.get('no-cache');
  if (noCacheValue !== null && noCacheValue !== 'true' && noCacheValue !== 'false') {
    throw new ValidationError('NO_CACHE_INVALID', `no-cache=${JSON.stringify(noCacheValue)} is invalid: use true or false.`);
  }
  return { buildArgs, target, noCache: noCacheValue === 'true' };
}
