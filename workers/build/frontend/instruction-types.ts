import type { ImageReference } from '../../../shared/oci/image-reference.ts';
import type { Heredoc } from './heredoc.ts';

/**
 * The parsed form of a Dockerfile: raw words, before variable substitution. Words keep
 * their quotes and escapes where the instruction allows substitution, because quote
 * removal and substitution happen together at build time (stage-evaluator.ts).
 */

/** A command of RUN, CMD, ENTRYPOINT or HEALTHCHECK CMD: exec form (JSON array) or shell form. */
export type CommandLine = { form: 'exec'; args: string[] } | { form: 'shell'; script: string };

interface InstructionBase {
  /** 1-based line of the instruction's first line. */
  line: number;
  /** 1-based column of the keyword. */
  column: number;
  /** The instruction as written, continuations joined, for the build log. */
  text: string;
}

export interface RunInstruction extends InstructionBase {
  keyword: 'RUN';
  command: CommandLine;
  /** Here-documents of a shell-form command (`RUN <<EOF`). */
  heredocs: Heredoc[];
  /** `--mount` flags, checked but not yet substituted (see run-mounts.ts). */
  mounts: RawMount[];
  /** `--network` as written: `default` or `none`. */
  network?: string;
}

/** One `RUN --mount=key=value,...` flag: its fields as written and where `from=` points. */
export interface RawMount {
  /** The flag value as written, for messages. */
  spec: string;
  /** The lowercased mount type; `bind` when the flag gives none. */
  type: string;
  /** Fields in order with raw values; `value` is absent for a bare key such as `ro` or `required`. */
  fields: { key: string; value?: string }[];
  /** Where `from=` points, resolved when the plan is made; the build context without `from=`. */
  from: CopySource;
}

export interface CopyFlags {
  /** `--from` as written: a stage name, a stage index or an image reference. */
  from?: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  /** `--exclude` patterns, in the order given. */
  exclude: string[];
  /** `--parents` (COPY only): keep the source's parent folders below the destination. */
  parents: boolean;
  /** `--checksum` (ADD only): the expected digest of a URL or the commit of a git source. */
  checksum?: string;
  /** `--keep-git-dir` (ADD only): keep the `.git` folder of a git source. */
  keepGitDir: boolean;
  /** `--unpack` (ADD only): absent means local archives are unpacked and remote ones are not. */
  unpack?: boolean;
}

/** A source of COPY or ADD written inline as a here-document (`COPY <<EOF /etc/motd`). */
export interface InlineSource {
  /** The file name: the here-document's delimiter. */
  name: string;
  /** The body, with `<<-` tabs already stripped. */
  content: string;
  /** Whether variables in the body are substituted (the delimiter was not quoted). */
  expand: boolean;
}

export interface CopyInstruction extends InstructionBase {
  keyword: 'COPY' | 'ADD';
  sources: string[];
  /** Here-document sources, copied as files named by their delimiters. */
  inlineSources: InlineSource[];
  destination: string;
  flags: CopyFlags;
  /** Where `--from` points, resolved when the plan is made. */
  source: CopySource;
}

/** The files a COPY or ADD reads: the build context, an earlier stage, or an image. */
export type CopySource =
  | { kind: 'context' }
  | { kind: 'stage'; index: number }
  | { kind: 'image'; reference: string; image: ImageReference };

export interface KeyValueInstruction extends InstructionBase {
  keyword: 'ENV' | 'LABEL';
  pairs: { key: string; value: string }[];
}

export interface ArgInstruction extends InstructionBase {
  keyword: 'ARG';
  /** Each declared name with its default as written, when one is given. */
  args: { name: string; defaultValue?: string }[];
}

/** Instructions whose whole argument is one word: WORKDIR, USER, STOPSIGNAL and MAINTAINER. */
export interface SingleValueInstruction extends InstructionBase {
  keyword: 'WORKDIR' | 'USER' | 'STOPSIGNAL' | 'MAINTAINER';
  value: string;
}

export interface ExposeInstruction extends InstructionBase {
  keyword: 'EXPOSE';
  ports: string[];
}

export interface VolumeInstruction extends InstructionBase {
  keyword: 'VOLUME';
  paths: string[];
}

export interface CommandInstruction extends InstructionBase {
  keyword: 'CMD' | 'ENTRYPOINT';
  command: CommandLine;
}

/** HEALTHCHECK durations as written (`30s`, `1m30s`), checked and converted when evaluated. */
export interface HealthcheckOptions {
  interval?: string;
  timeout?: string;
  startPeriod?: string;
  startInterval?: string;
  retries?: string;
}

export interface HealthcheckInstruction extends InstructionBase {
  keyword: 'HEALTHCHECK';
  check: { type: 'none' } | { type: 'command'; command: CommandLine; options: HealthcheckOptions };
}

export interface ShellInstruction extends InstructionBase {
  keyword: 'SHELL';
  shell: string[];
}

export interface OnbuildInstruction extends InstructionBase {
  keyword: 'ONBUILD';
  /** The trigger instruction as written; it runs in the build of an image based on this one. */
  trigger: string;
}

export type StageInstruction =
  | RunInstruction
  | CopyInstruction
  | KeyValueInstruction
  | ArgInstruction
  | SingleValueInstruction
  | ExposeInstruction
  | VolumeInstruction
  | CommandInstruction
  | HealthcheckInstruction
  | ShellInstruction
  | OnbuildInstruction;

export interface FromInstruction extends InstructionBase {
  keyword: 'FROM';
  /** The base as written, before global ARGs are substituted. */
  base: string;
  /** The stage name after `AS`, lowercased as Docker matches names without case. */
  name?: string;
  platform?: string;
}

export type ParsedInstruction = StageInstruction | FromInstruction;
