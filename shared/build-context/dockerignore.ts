import dockerignoreModule from '@balena/dockerignore';

// The package is CommonJS; its `default` property is the factory under both module systems.
const ignore = dockerignoreModule.default;

/**
 * .dockerignore matching with docker's semantics, through @balena/dockerignore (a port
 * of moby's matcher). Patterns are relative to the context root and `**` matches any
 * number of folders. A pattern that matches a folder excludes everything under it, and
 * `!` re-includes, the last matching line winning. Matching is case-sensitive, as
 * docker's is on Linux, so the package's default of folding case is turned off.
 */
export interface IgnoreMatcher {
  /** Whether a path (relative to the context root, `/`-separated) is excluded. */
  ignores(path: string): boolean;
  /** Whether any `!` line exists, so that an excluded folder may still hold included paths. */
  readonly hasExceptions: boolean;
}

export function createIgnoreMatcher(dockerignore: string | null | undefined, alwaysInclude: readonly string[] = []): IgnoreMatcher {
  const lines = (dockerignore ?? '').split(/\r?\n/);
  // docker's client adds exceptions for the Dockerfile and the ignore file so they are always sent.
  const patterns = [...lines, ...alwaysInclude.map((path) => `!${path}`)];
  const matcher = ignore({ ignorecase: false }).add(patterns);
  const hasExceptions = patterns.some((line) => line.trim().startsWith('!'));
  return {
    ignores: (path: string) => matcher.ignores(path),
    hasExceptions,
  };
}

/** Returns the ignore files of a Dockerfile in precedence order: `<dockerfile>.dockerignore` beside it wins over `.dockerignore` at the root. */
export function dockerignoreCandidates(dockerfilePath: string): [specific: string, root: string] {
  return [`${dockerfilePath}.dockerignore`, '.dockerignore'];
}
