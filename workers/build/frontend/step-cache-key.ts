import type { EvaluatedStep } from './evaluated-step.ts';

/**
 * The stable text of an evaluated step for the builder's cache key: the expanded words,
 * the environment a RUN sees, its user and working directory, as JSON with object keys
 * sorted. The line, the original text and the proxy variables are left out, so moving
 * an instruction or changing a proxy does not miss the cache (the reference exempts
 * predefined proxy ARGs from caching). The builder adds the parent layer and, for
 * COPY and ADD, the digests of the copied files.
 */
export function stepCacheKeyText(step: EvaluatedStep): string {
  const { line: _line, text: _text, ...rest } = step;
  if ('proxyEnv' in rest) {
    const { proxyEnv: _proxyEnv, ...withoutProxies } = rest;
    return stableStringify(withoutProxies);
  }
  return stableStringify(rest);
}

/** JSON with object keys in sorted order at every depth; undefined fields are left out as JSON.stringify does. */
export function stableStringify(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) sorted[key] = sortKeys((value as Record<string, unknown>)[key]);
  return sorted;
}
