import { invalidInstruction, type SourcePosition } from './dockerfile-errors.ts';
import type { ArgInstruction } from './instruction-types.ts';
import { expandWord, WordExpansionError, type VariableScope } from './word-expansion.ts';

/** The one platform Slipway builds for and runs. */
export const TARGET_PLATFORM = { os: 'linux', architecture: 'amd64', variant: '' } as const;
export const TARGET_PLATFORM_NAME = `${TARGET_PLATFORM.os}/${TARGET_PLATFORM.architecture}`;

/**
 * The automatic platform ARGs of the Dockerfile reference. They live in the global
 * scope, so FROM lines see them and a stage sees one only after `ARG NAME` redeclares
 * it. NOTE: BUILDPLATFORM is the platform of the build host; the build workers run on
 * linux/amd64 hosts, so it is fixed to the target platform here.
 */
export const PLATFORM_ARGS: Readonly<Record<string, string>> = {
  TARGETPLATFORM: TARGET_PLATFORM_NAME,
  TARGETOS: TARGET_PLATFORM.os,
  TARGETARCH: TARGET_PLATFORM.architecture,
  TARGETVARIANT: TARGET_PLATFORM.variant,
  BUILDPLATFORM: TARGET_PLATFORM_NAME,
  BUILDOS: TARGET_PLATFORM.os,
  BUILDARCH: TARGET_PLATFORM.architecture,
  BUILDVARIANT: TARGET_PLATFORM.variant,
};

/**
 * Proxy variables that `--build-arg` may set without an ARG instruction. They reach the
 * environment of RUN commands but, per the reference, stay out of the cache key and the
 * image history unless the Dockerfile declares them.
 */
export const PROXY_ARGS: readonly string[] = [
  'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy',
  'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy',
];

/** An ARG with the value it has in its scope; `value` is absent when it is declared without one. */
export interface ResolvedArg {
  name: string;
  value?: string;
}

/**
 * Resolves the ARGs declared before the first FROM, in order: a `--build-arg` value wins
 * over the default, and a default may use the global ARGs declared before it.
 */
export function resolveGlobalArgs(
  declarations: ArgInstruction[],
  buildArgs: Readonly<Record<string, string>>,
  escapeCharacter: string,
): ResolvedArg[] {
  const scope = new Map<string, string>(Object.entries(PLATFORM_ARGS));
  const resolved = new Map<string, ResolvedArg>();

  for (const instruction of declarations) {
    for (const declaration of instruction.args) {
      const name = expandAt(instruction, declaration.name, scope, escapeCharacter);
      let value: string | undefined = buildArgs[name];
      if (value === undefined && declaration.defaultValue !== undefined) {
        value = expandAt(instruction, declaration.defaultValue, scope, escapeCharacter);
      }
      if (value !== undefined) scope.set(name, value);
      resolved.set(name, { name, value: value ?? resolved.get(name)?.value });
    }
  }
  return [...resolved.values()];
}

/** The scope FROM lines expand in: the platform ARGs and the global ARGs that have a value. */
export function globalScope(globalArgs: readonly ResolvedArg[]): Map<string, string> {
  const scope = new Map<string, string>(Object.entries(PLATFORM_ARGS));
  for (const arg of globalArgs) if (arg.value !== undefined) scope.set(arg.name, arg.value);
  return scope;
}

/** Expands a word of the instruction at `position`, turning a syntax error into a DockerfileError. */
export function expandAt(position: SourcePosition, word: string, scope: VariableScope, escapeCharacter: string): string {
  try {
    return expandWord(word, scope, escapeCharacter);
  } catch (error) {
    if (!(error instanceof WordExpansionError)) throw error;
    throw invalidInstruction(position, `cannot substitute variables in ${JSON.stringify(word)}: ${error.message}.`, error);
  }
}

/**
 * Build args that the builder reads itself without an ARG. It takes SOURCE_DATE_EPOCH for
 * the image's timestamps and clamps layer mtimes to it. BuildKit reads the same build arg.
 */
export const BUILDER_ARGS: readonly string[] = ['SOURCE_DATE_EPOCH'];

/**
 * Build args that no ARG instruction declares, for a warning: Docker builds anyway and
 * reports them. Predefined names (proxies, platforms, builder args) are never reported.
 */
export function findUnusedBuildArgs(buildArgs: Readonly<Record<string, string>>, declared: ReadonlySet<string>): string[] {
  return Object.keys(buildArgs)
    .filter((name) => !declared.has(name) && !PROXY_ARGS.includes(name) && !(name in PLATFORM_ARGS) && !BUILDER_ARGS.includes(name))
    .sort();
}
