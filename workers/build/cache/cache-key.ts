import { createHash } from 'node:crypto';
import { stepCacheKeyText, type EvaluatedStep } from '../frontend/index.ts';

/** Changing this retires every stored key, for when the meaning of a key changes. */
const KEY_VERSION = 'slipway-build-cache-v1';

/**
 * Computes a file step's cache key: sha256 over the parent key, the step, and the source
 * checksum. The parent key is the previous file step's key, or the base's identity. The
 * step text comes after substitution, with the env, args, user and working directory it
 * runs with (proxy args excluded). COPY and ADD add the checksum of their source files.
 * Equal keys mean the step would make the same change.
 */
export function stepCacheKey(parentKey: string, step: EvaluatedStep, sourceChecksum?: string): string {
  const hash = createHash('sha256');
  for (const part of [KEY_VERSION, parentKey, stepCacheKeyText(step), sourceChecksum ?? '']) {
    hash.update(part);
    hash.update('\0');
  }
  return `sha256:${hash.digest('hex')}`;
}

/** The parent key of a `COPY --link` step, which does not depend on the layers below it. */
export const LINK_PARENT_KEY = 'link';

/**
 * The chain key after a `--link` step: its own key, found without the parent, combined
 * with the parent chain, so the steps after it still depend on everything below.
 */
export function linkedChainKey(parentKey: string, linkKey: string): string {
  const hash = createHash('sha256');
  for (const part of [KEY_VERSION, 'linked', parentKey, linkKey]) {
    hash.update(part);
    hash.update('\0');
  }
  return `sha256:${hash.digest('hex')}`;
}
