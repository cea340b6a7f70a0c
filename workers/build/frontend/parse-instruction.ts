import { describePosition, DockerfileError, invalidInstruction, unsupportedFeature, type SourcePosition } from './dockerfile-errors.ts';
import { heredocBody, parseHeredocMarker, type Heredoc } from './heredoc.ts';
import type {
  CommandLine,
  CopyInstruction,
  HealthcheckInstruction,
  InlineSource,
  ParsedInstruction,
  RunInstruction,
} from './instruction-types.ts';
import {
  extractFlags,
  parseFlags,
  parseKeyValuePairs,
  parseMaybeJson,
  splitQuotedWords,
  splitWhitespace,
  type FlagKind,
  type ParsedFlags,
} from './line-parsers.ts';
import { parseMountFlag } from './run-mounts.ts';
import type { SourceInstruction } from './source-lines.ts';

/** Instructions of the Dockerfile reference, in the order the reference lists them. */
export const KNOWN_INSTRUCTIONS = [
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK',
  'LABEL', 'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
] as const;

type Keyword = (typeof KNOWN_INSTRUCTIONS)[number];

/** Flags of the Dockerfile reference that Slipway rejects, with the reason. */
const UNSUPPORTED_FLAGS: Partial<Record<Keyword, Record<string, string>>> = {
  RUN: { device: 'RUN --device needs CDI devices on the build host, which Slipway does not provide: remove the flag' },
};

const ACCEPTED_FLAGS: Partial<Record<Keyword, Record<string, FlagKind>>> = {
  FROM: { platform: 'string' },
  RUN: { mount: 'strings', network: 'string', security: 'string' },
  COPY: { from: 'string', chown: 'string', chmod: 'string', link: 'boolean', parents: 'boolean', exclude: 'strings' },
  ADD: { chown: 'string', chmod: 'string', link: 'boolean', checksum: 'string', 'keep-git-dir': 'boolean', unpack: 'boolean', exclude: 'strings' },
  HEALTHCHECK: { interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' },
};

export interface ParseContext {
  escapeCharacter: string;
}

/**
 * Parses one logical line into a typed instruction with raw words. Throws a
 * DockerfileError that names the line for an unknown instruction or malformed arguments.
 */
export function parseInstruction(source: SourceInstruction, context: ParseContext): ParsedInstruction {
  const position: SourcePosition = { line: source.line, column: source.column };
  const [word = '', rest = ''] = splitKeyword(source.text);
  const keyword = word.toUpperCase();
  if (!(KNOWN_INSTRUCTIONS as readonly string[]).includes(keyword)) {
    throw new DockerfileError(
      'DOCKERFILE_UNKNOWN_INSTRUCTION',
      `${describePosition(position)}: unknown instruction ${word}: use one of ${KNOWN_INSTRUCTIONS.join(', ')}.`,
      position,
    );
  }
  try {
    return parseArguments(keyword as Keyword, rest, { line: source.line, column: source.column, text: source.text, heredocs: source.heredocs }, context);
  } catch (error) {
    if (error instanceof DockerfileError) throw error;
    throw invalidInstruction(position, `${keyword}: ${(error as Error).message}.`, error);
  }
}

function splitKeyword(text: string): [string, string] | [string] {
  const trimmed = text.trim();
  const match = /[\t\v\f\r ]+/.exec(trimmed);
  return match ? [trimmed.slice(0, match.index), trimmed.slice(match.index + match[0].length)] : [trimmed];
}

interface Base {
  line: number;
  column: number;
  text: string;
}

interface ArgumentsSource extends Base {
  heredocs: Heredoc[];
}

function parseArguments(keyword: Keyword, rest: string, source: ArgumentsSource, context: ParseContext): ParsedInstruction {
  const { heredocs, ...base } = source;
  const extracted = extractFlags(rest);
  const flags = checkFlags(keyword, extracted.flags, base);
  const args = extracted.rest;

  switch (keyword) {
    case 'FROM':
      return parseFrom(args, flags, base);
    case 'RUN':
      return parseRun(args, flags, base, heredocs);
    case 'CMD':
    case 'ENTRYPOINT':
      // `CMD []` and `ENTRYPOINT []` are how a Dockerfile clears an inherited value.
      return { ...base, keyword, command: requireCommand(keyword, args, true) };
    case 'COPY':
    case 'ADD':
      return parseCopy(keyword, args, flags, base, heredocs);
    case 'ENV':
    case 'LABEL':
      return { ...base, keyword, pairs: parseKeyValuePairs(args, keyword, context.escapeCharacter) };
    case 'ARG':
      return { ...base, keyword, args: parseArgDeclarations(args, context.escapeCharacter) };
    case 'WORKDIR':
    case 'USER':
    case 'STOPSIGNAL':
    case 'MAINTAINER':
      return { ...base, keyword, value: requireOneValue(keyword, args) };
    case 'EXPOSE':
      return { ...base, keyword, ports: requireWords(keyword, splitWhitespace(args)) };
    case 'VOLUME':
      return { ...base, keyword, paths: parseVolumes(args) };
    case 'HEALTHCHECK':
      return parseHealthcheck(args, flags, base);
    case 'SHELL':
      return { ...base, keyword, shell: parseShell(args) };
    case 'ONBUILD':
      return { ...base, keyword, trigger: parseOnbuild(args, base, context) };
  }
}

function checkFlags(keyword: Keyword, flags: string[], position: SourcePosition): ParsedFlags {
  for (const flag of flags) {
    const name = flag.slice(2).split('=')[0]!;
    const reason = UNSUPPORTED_FLAGS[keyword]?.[name];
    if (reason !== undefined) throw unsupportedFeature(position, reason);
  }
  return parseFlags(flags, ACCEPTED_FLAGS[keyword] ?? {});
}

/** Network modes of `RUN --network`; `host` would put the step on the build host's own network. */
const RUN_NETWORKS = new Set(['default', 'none']);

function parseRun(args: string, flags: ParsedFlags, base: Base, heredocs: Heredoc[]): RunInstruction {
  const network = flags.get('network') as string | undefined;
  if (network === 'host') {
    throw unsupportedFeature(base, 'RUN --network=host is not allowed: build steps never share the network of the build host, so use --network=default or --network=none');
  }
  if (network !== undefined && !RUN_NETWORKS.has(network)) throw new Error(`--network=${network} is not a network mode: use default or none`);

  const security = flags.get('security') as string | undefined;
  if (security === 'insecure') {
    throw unsupportedFeature(base, 'RUN --security=insecure is not allowed: build steps always run in the sandbox, so remove the flag');
  }
  if (security !== undefined && security !== 'sandbox') throw new Error(`--security=${security} is not a security mode: use sandbox`);

  const mounts = ((flags.get('mount') as string[] | undefined) ?? []).map((spec) => {
    const { fromText: _fromText, ...mount } = parseMountFlag(spec);
    // The plan resolves from= to a stage or an image (parse-dockerfile.ts).
    return { ...mount, from: { kind: 'context' } as const };
  });
  return { ...base, keyword: 'RUN', command: requireCommand('RUN', args, false), heredocs, mounts, ...(network === undefined ? {} : { network }) };
}

function requireWords(keyword: string, words: string[]): string[] {
  if (words.length === 0) throw new Error(`${keyword} needs at least one argument`);
  return words;
}

function requireOneValue(keyword: string, args: string): string {
  if (args === '') throw new Error(`${keyword} needs exactly one argument`);
  return args;
}

function requireCommand(keyword: string, args: string, allowEmptyExec: boolean): CommandLine {
  const parsed = parseMaybeJson(args);
  if (parsed.json && (parsed.values.length > 0 || allowEmptyExec)) return { form: 'exec', args: parsed.values };
  if (args === '' || parsed.json) throw new Error(`${keyword} needs a command`);
  return { form: 'shell', script: args };
}

function parseFrom(args: string, flags: ParsedFlags, base: Base): ParsedInstruction {
  const words = splitWhitespace(args);
  if (words.length === 0) throw new Error('FROM needs an image: write FROM IMAGE[:TAG] [AS NAME]');
  if (words.length === 2 || words.length > 3 || (words.length === 3 && words[1]!.toLowerCase() !== 'as')) {
    throw new Error(`FROM takes an image and optionally AS NAME, but got ${JSON.stringify(args)}`);
  }

  const name = words[2]?.toLowerCase();
  if (name !== undefined && !/^[a-z][a-z0-9-_.]*$/.test(name)) {
    throw new Error(`stage name ${JSON.stringify(words[2])} is invalid: start with a letter and use letters, digits, "-", "_" or "."`);
  }
  return { ...base, keyword: 'FROM', base: words[0]!, name, platform: flags.get('platform') as string | undefined };
}

function parseCopy(keyword: 'COPY' | 'ADD', args: string, flags: ParsedFlags, base: Base, heredocs: Heredoc[]): CopyInstruction {
  const parsed = parseMaybeJson(args);
  const words = parsed.json ? parsed.values : splitWhitespace(args);
  if (words.length < 2) {
    throw new Error(`${keyword} needs at least one source and a destination, such as ${keyword} app.py /app/`);
  }
  const destination = words.at(-1)!;
  if (heredocs.length > 0 && parseHeredocMarker(destination)) throw new Error(`${keyword} cannot take a here-document as its destination: give a path`);

  const sources: string[] = [];
  const inlineSources: InlineSource[] = [];
  for (const word of words.slice(0, -1)) {
    const marker = heredocs.length > 0 ? parseHeredocMarker(word) : undefined;
    const heredoc = marker && heredocs.find((candidate) => candidate.name === marker.name);
    if (heredoc) inlineSources.push({ name: heredoc.name, content: heredocBody(heredoc), expand: heredoc.expand });
    else sources.push(word);
  }

  return {
    ...base,
    keyword,
    sources,
    inlineSources,
    destination,
    flags: {
      from: flags.get('from') as string | undefined,
      chown: flags.get('chown') as string | undefined,
      chmod: flags.get('chmod') as string | undefined,
      link: flags.get('link') === true,
      exclude: (flags.get('exclude') as string[] | undefined) ?? [],
      parents: flags.get('parents') === true,
      checksum: flags.get('checksum') as string | undefined,
      keepGitDir: flags.get('keep-git-dir') === true,
      ...(flags.has('unpack') ? { unpack: flags.get('unpack') === true } : {}),
    },
    // The plan replaces this when --from names a stage or an image (parse-dockerfile.ts).
    source: { kind: 'context' },
  };
}

/** `ARG name[=default] ...`: a name alone declares the argument with no default. */
function parseArgDeclarations(args: string, escapeCharacter: string): { name: string; defaultValue?: string }[] {
  const words = requireWords('ARG', splitQuotedWords(args, escapeCharacter));
  return words.map((word) => {
    const equals = word.indexOf('=');
    if (equals === 0) throw new Error(`ARG has a declaration with an empty name: ${JSON.stringify(word)}`);
    return equals === -1 ? { name: word } : { name: word.slice(0, equals), defaultValue: word.slice(equals + 1) };
  });
}

function parseVolumes(args: string): string[] {
  const parsed = parseMaybeJson(args);
  const paths = parsed.json ? parsed.values.map((value) => value.trim()) : splitWhitespace(args);
  if (paths.length === 0) throw new Error('VOLUME needs at least one path');
  if (paths.some((path) => path === '')) throw new Error('VOLUME has an empty path');
  return paths;
}

function parseShell(args: string): string[] {
  const parsed = parseMaybeJson(args);
  if (!parsed.json) throw new Error(`SHELL must be a JSON array such as ["/bin/bash", "-c"], not ${JSON.stringify(args)}`);
  if (parsed.values.length === 0) throw new Error('SHELL needs at least the shell executable');
  return parsed.values;
}

function parseHealthcheck(args: string, flags: ParsedFlags, base: Base): HealthcheckInstruction {
  const [type = '', command = ''] = splitKeyword(args);
  const upper = type.toUpperCase();
  if (upper === 'NONE') {
    if (command !== '' || flags.size > 0) throw new Error('HEALTHCHECK NONE takes no options and no arguments');
    return { ...base, keyword: 'HEALTHCHECK', check: { type: 'none' } };
  }
  if (upper !== 'CMD') throw new Error(`expected NONE or CMD after the options, not ${JSON.stringify(type)}`);

  return {
    ...base,
    keyword: 'HEALTHCHECK',
    check: {
      type: 'command',
      command: requireCommand('HEALTHCHECK CMD', command, false),
      options: {
        interval: flags.get('interval') as string | undefined,
        timeout: flags.get('timeout') as string | undefined,
        startPeriod: flags.get('start-period') as string | undefined,
        startInterval: flags.get('start-interval') as string | undefined,
        retries: flags.get('retries') as string | undefined,
      },
    },
  };
}

/** Validates the trigger as an instruction of its own and keeps its text. */
function parseOnbuild(args: string, base: Base, context: ParseContext): string {
  const [word = ''] = splitKeyword(args);
  const trigger = word.toUpperCase();
  if (trigger === '') throw new Error('ONBUILD needs an instruction to run later');
  if (trigger === 'ONBUILD') throw new Error('ONBUILD ONBUILD is not allowed');
  if (trigger === 'FROM' || trigger === 'MAINTAINER') throw new Error(`${trigger} is not allowed as an ONBUILD trigger`);

  // The trigger is parsed only to reject a malformed one now rather than in a later build.
  parseInstruction({ line: base.line, column: base.column, text: args, heredocs: [] }, context);
  return args;
}
