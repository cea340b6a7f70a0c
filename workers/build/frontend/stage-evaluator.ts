import path from 'node:path';
import { expandAt, globalScope, PROXY_ARGS } from './build-args.ts';
import type { BuildPlan, PlannedStage } from './build-plan.ts';
import { checkStopSignal, environmentMap, environmentName, healthcheck, parseExposedPorts, setEnvironmentVariable } from './config-values.ts';
import { DockerfileError, invalidInstruction, unsupportedFeature, type SourcePosition } from './dockerfile-errors.ts';
import type { CopyStep, EvaluatedStep, RunStep, StageConfig, StepResult } from './evaluated-step.ts';
import { formatFileModeChange, parseFileModeChange } from './file-mode.ts';
import { heredocRunArgs } from './heredoc.ts';
import type {
  ArgInstruction,
  CommandLine,
  CopyInstruction,
  KeyValueInstruction,
  RunInstruction,
  StageInstruction,
} from './instruction-types.ts';
import { parseInstruction } from './parse-instruction.ts';
import { evaluateMount, UnsupportedMountError } from './run-mounts.ts';
import { expandWord, expandWords, WordExpansionError } from './word-expansion.ts';

/** The shell that wraps shell-form commands until a SHELL instruction changes it (Linux default). */
export const DEFAULT_SHELL: readonly string[] = ['/bin/sh', '-c'];


/** Where a stage starts: its base image's config, or the final state of its base stage. */
export interface StageStart {
  /** The base image's `config` object; empty for scratch. */
  config?: StageConfig;
  author?: string;
  /** ARGs in scope at the end of the base stage: a stage inherits them from its base stage. */
  args?: ReadonlyMap<string, string | undefined>;
}

/**
 * Evaluates the instructions of one stage in order. It needs what only the builder
 * knows, the base's config (Env, WorkingDir, User, ...), so it is created when the base is
 * resolved. For each instruction it substitutes variables with the scope Docker uses,
 * returns the expanded step and the config after it, and keeps the state for the next.
 */
export class StageEvaluator {
  private config: StageConfig;
  private author: string | undefined;
  /** ARGs declared in this stage (or inherited), in declaration order; undefined means declared without a value. */
  private readonly args: Map<string, string | undefined>;
  /** Whether this stage set CMD; a later ENTRYPOINT then keeps it instead of clearing an inherited one. */
  private cmdSet = false;
  private readonly globals: Map<string, string>;
  /** ONBUILD triggers of the base, to be run before the stage's own instructions. */
  readonly onbuildTriggers: StageInstruction[];

  constructor(
    private readonly plan: BuildPlan,
    readonly stage: PlannedStage,
    start: StageStart = {},
  ) {
    this.config = structuredClone(start.config ?? {});
    this.author = start.author;
    this.args = new Map(start.args ?? []);
    this.globals = globalScope(plan.globalArgs);
    this.onbuildTriggers = this.parseTriggers(this.config.OnBuild ?? []);
    // Triggers run once, in the build that uses the image as its base; they are not inherited further.
    delete this.config.OnBuild;
  }

  /** The state a stage based on this one starts from (`FROM <this stage>`). */
  snapshot(): Required<Pick<StageStart, 'config' | 'args'>> & Pick<StageStart, 'author'> {
    return { config: structuredClone(this.config), author: this.author, args: new Map(this.args) };
  }

  /** Evaluates the next instruction of the stage and applies its effect to the state. Throws a DockerfileError naming the line. */
  evaluate(instruction: StageInstruction): StepResult {
    const scope = this.expansionScope();
    const expand = (word: string) => expandAt(instruction, word, scope, this.plan.escapeCharacter);
    const step = this.dispatch(instruction, expand, scope);
    return { step, config: structuredClone(this.config), author: this.author };
  }

  private dispatch(instruction: StageInstruction, expand: (word: string) => string, scope: Map<string, string>): EvaluatedStep {
    const base = { line: instruction.line, text: instruction.text };
    switch (instruction.keyword) {
      case 'RUN':
        return this.run(instruction, expand);
      case 'COPY':
      case 'ADD':
        return this.copy(instruction, expand, scope);
      case 'WORKDIR': {
        const next = expand(instruction.value);
        if (next === '') throw invalidInstruction(instruction, `WORKDIR ${instruction.value} is empty after substitution.`);
        this.config.WorkingDir = path.posix.resolve(this.workdir(), next);
        return { ...base, keyword: 'WORKDIR', createdBy: `WORKDIR ${this.config.WorkingDir}`, path: this.config.WorkingDir, user: this.config.User ?? '' };
      }
      case 'ENV':
      case 'LABEL':
        return { ...base, keyword: instruction.keyword, createdBy: this.setPairs(instruction, expand) };
      case 'ARG':
        return { ...base, keyword: 'ARG', createdBy: this.declareArgs(instruction, expand) };
      case 'USER':
        this.config.User = expand(instruction.value);
        return { ...base, keyword: 'USER', createdBy: `USER ${this.config.User}` };
      case 'STOPSIGNAL':
        this.config.StopSignal = this.atPosition(instruction, () => checkStopSignal(expand(instruction.value)));
        return { ...base, keyword: 'STOPSIGNAL', createdBy: `STOPSIGNAL ${this.config.StopSignal}` };
      case 'MAINTAINER':
        // MAINTAINER sets the image's author field, not a label, and takes no substitution.
        this.author = instruction.value;
        return { ...base, keyword: 'MAINTAINER', createdBy: `MAINTAINER ${this.author}` };
      case 'EXPOSE':
        return { ...base, keyword: 'EXPOSE', createdBy: `EXPOSE ${this.expose(instruction.ports, instruction, scope)}` };
      case 'VOLUME':
        return { ...base, keyword: 'VOLUME', createdBy: `VOLUME ${this.volume(instruction.paths, instruction, expand)}` };
      case 'CMD':
        this.config.Cmd = this.commandArgs(instruction.command);
        this.cmdSet = true;
        return { ...base, keyword: 'CMD', createdBy: `CMD ${JSON.stringify(this.config.Cmd)}` };
      case 'ENTRYPOINT':
        return { ...base, keyword: 'ENTRYPOINT', createdBy: `ENTRYPOINT ${JSON.stringify(this.entrypoint(instruction.command))}` };
      case 'HEALTHCHECK':
        this.config.Healthcheck = this.atPosition(instruction, () => healthcheck(instruction));
        return { ...base, keyword: 'HEALTHCHECK', createdBy: `HEALTHCHECK ${JSON.stringify(this.config.Healthcheck)}` };
      case 'SHELL':
        this.config.Shell = [...instruction.shell];
        return { ...base, keyword: 'SHELL', createdBy: `SHELL ${JSON.stringify(this.config.Shell)}` };
      case 'ONBUILD':
        this.config.OnBuild = [...(this.config.OnBuild ?? []), instruction.trigger];
        return { ...base, keyword: 'ONBUILD', createdBy: `ONBUILD ${instruction.trigger}` };
    }
  }

  /** Variables for substitution: ARGs with a value, overridden by the image's Env (ENV wins over ARG). */
  private expansionScope(): Map<string, string> {
    const scope = new Map<string, string>();
    for (const [name, value] of this.args) if (value !== undefined) scope.set(name, value);
    for (const [name, value] of environmentMap(this.config.Env)) scope.set(name, value);
    return scope;
  }

  private runContext(): { env: string[]; proxyEnv: string[]; user: string; workdir: string } {
    const env = [...(this.config.Env ?? [])];
    const envNames = new Set(env.map(environmentName));
    for (const [name, value] of this.args) {
      if (value !== undefined && !envNames.has(name)) env.push(`${name}=${value}`);
    }
    const proxyEnv = PROXY_ARGS.filter((name) => this.plan.buildArgs[name] !== undefined && !this.args.has(name) && !envNames.has(name)).map(
      (name) => `${name}=${this.plan.buildArgs[name]}`,
    );
    return { env, proxyEnv, user: this.config.User ?? '', workdir: this.workdir() };
  }

  private workdir(): string {
    return this.config.WorkingDir || '/';
  }

  private shell(): readonly string[] {
    return this.config.Shell && this.config.Shell.length > 0 ? this.config.Shell : DEFAULT_SHELL;
  }

  private commandArgs(command: CommandLine): string[] {
    return command.form === 'exec' ? [...command.args] : [...this.shell(), command.script];
  }

  /** ENTRYPOINT `[]` clears it; a new ENTRYPOINT clears a CMD inherited from the base, as docker does. */
  private entrypoint(command: CommandLine): string[] | null {
    const args = this.commandArgs(command);
    this.config.Entrypoint = command.form === 'exec' && args.length === 0 ? null : args;
    if (!this.cmdSet) this.config.Cmd = null;
    return this.config.Entrypoint;
  }

  private run(instruction: RunInstruction, expand: (word: string) => string): RunStep {
    const context = this.runContext();
    const { args, scripts } = this.atPosition(instruction, () =>
      instruction.command.form === 'exec' ? { args: [...instruction.command.args], scripts: [] } : heredocRunArgs(instruction.command.script, instruction.heredocs, this.shell()),
    );
    const mounts = instruction.mounts.map((mount) => this.atPosition(instruction, () => evaluateMount(mount, expand, context.workdir)));
    const flags = [...instruction.mounts.map((mount) => `--mount=${mount.spec} `), instruction.network ? `--network=${instruction.network} ` : ''].join('');
    return {
      line: instruction.line,
      text: instruction.text,
      keyword: 'RUN',
      createdBy: `RUN ${flags}${args.join(' ')}`,
      args,
      ...context,
      mounts,
      network: instruction.network === 'none' ? 'none' : 'default',
      scripts,
    };
  }

  private copy(instruction: CopyInstruction, expand: (word: string) => string, scope: Map<string, string>): CopyStep {
    const { flags } = instruction;
    const sources = instruction.sources.map(expand);
    const destination = resolveDestination(this.workdir(), expand(instruction.destination));
    const chown = flags.chown === undefined ? undefined : expand(flags.chown);
    const chmod = flags.chmod === undefined ? undefined : this.atPosition(instruction, () => parseFileModeChange(expand(flags.chmod!)));
    const inlineFiles = instruction.inlineSources.map((inline) => ({
      name: inline.name,
      // BuildKit substitutes in a COPY here-document but keeps quotes and unset variables as written.
      content: inline.expand ? this.atPosition(instruction, () => expandWord(inline.content, scope, '\\', { literalQuotes: true, keepUnset: true })) : inline.content,
    }));

    const shown = [
      chown === undefined ? '' : `--chown=${chown} `,
      chmod === undefined ? '' : `--chmod=${formatFileModeChange(chmod)} `,
      flags.link ? '--link ' : '',
      flags.parents ? '--parents ' : '',
      ...flags.exclude.map((pattern) => `--exclude=${expand(pattern)} `),
      ...inlineFiles.map((file) => `<<${file.name} `),
    ].join('');
    return {
      line: instruction.line,
      text: instruction.text,
      keyword: instruction.keyword,
      createdBy: `${instruction.keyword} ${shown}${sources.map((source) => `${source} `).join('')}${destination}`,
      sources,
      destination,
      source: instruction.source,
      inlineFiles,
      chown,
      chmod,
      link: flags.link,
      exclude: flags.exclude.map(expand),
      parents: flags.parents,
      ...(flags.checksum === undefined ? {} : { checksum: expand(flags.checksum) }),
      keepGitDir: flags.keepGitDir,
      ...(flags.unpack === undefined ? {} : { unpack: flags.unpack }),
    };
  }

  /** ENV and LABEL: every key and value sees the variables as they were before this instruction. */
  private setPairs(instruction: KeyValueInstruction, expand: (word: string) => string): string {
    const pairs = instruction.pairs.map((pair) => ({ key: expand(pair.key), value: expand(pair.value) }));
    for (const { key, value } of pairs) {
      if (key === '') throw invalidInstruction(instruction, `${instruction.keyword} has a key that is empty after substitution.`);
      if (instruction.keyword === 'ENV') this.config.Env = setEnvironmentVariable(this.config.Env ?? [], key, value);
      else this.config.Labels = { ...this.config.Labels, [key]: value };
    }
    return `${instruction.keyword} ${pairs.map(({ key, value }) => `${key}=${JSON.stringify(value)}`).join(' ')}`;
  }

  /**
   * ARG scoping: a `--build-arg` value wins, then the default, then the value of a
   * global ARG of the same name (the reference's way to bring a global ARG into a
   * stage). A default is substituted with the variables in scope before it.
   */
  private declareArgs(instruction: ArgInstruction, expand: (word: string) => string): string {
    const names: string[] = [];
    for (const declaration of instruction.args) {
      const name = expand(declaration.name);
      let value: string | undefined = this.plan.buildArgs[name];
      if (value === undefined && declaration.defaultValue !== undefined) value = expand(declaration.defaultValue);
      if (value === undefined) value = this.globals.get(name) ?? this.args.get(name);
      this.args.set(name, value);
      names.push(name);
    }
    return `ARG ${names.join(' ')}`;
  }

  private expose(ports: string[], position: SourcePosition, scope: Map<string, string>): string {
    const keys = this.atPosition(position, () =>
      ports.flatMap((word) => expandWords(word, scope, this.plan.escapeCharacter)).flatMap((spec) => parseExposedPorts(spec)),
    );
    this.config.ExposedPorts = { ...this.config.ExposedPorts };
    for (const key of keys) this.config.ExposedPorts[key] = {};
    return keys.join(' ');
  }

  private volume(paths: string[], position: SourcePosition, expand: (word: string) => string): string {
    const volumes = paths.map((raw) => expand(raw).trim());
    if (volumes.some((volume) => volume === '')) throw invalidInstruction(position, 'VOLUME has a path that is empty after substitution.');
    this.config.Volumes = { ...this.config.Volumes };
    for (const volume of volumes) this.config.Volumes[volume] = {};
    return JSON.stringify(volumes);
  }

  /** Runs a value parser, turning its plain Error into a DockerfileError at `position`. */
  private atPosition<T>(position: SourcePosition, parse: () => T): T {
    try {
      return parse();
    } catch (error) {
      if (error instanceof DockerfileError) throw error;
      if (error instanceof UnsupportedMountError) throw unsupportedFeature(position, error.message);
      const message = error instanceof WordExpansionError ? `cannot substitute variables in ${JSON.stringify(error.word)}: ${error.message}` : (error as Error).message;
      throw invalidInstruction(position, `${message}.`, error);
    }
  }

  private parseTriggers(triggers: readonly string[]): StageInstruction[] {
    const line = this.stage.line;
    return triggers.map((trigger) => {
      const parsed = parseInstruction({ line, column: 1, text: trigger, heredocs: [] }, { escapeCharacter: '\\' });
      if (parsed.keyword === 'FROM') throw invalidInstruction({ line }, `the base image has an ONBUILD FROM trigger, which is not allowed.`);
      if (parsed.keyword === 'COPY' && parsed.flags.from !== undefined) {
        throw unsupportedFeature({ line }, `the base image has the trigger ONBUILD ${trigger}: COPY --from in ONBUILD triggers is not supported yet`);
      }
      return parsed;
    });
  }
}

/** Joins a relative destination to the working directory, keeping a trailing `/` (or `.`) as a directory marker. */
function resolveDestination(workdir: string, destination: string): string {
  const resolved = path.posix.resolve(workdir, destination);
  const isDirectory = destination.endsWith('/') || destination === '.' || destination.endsWith('/.');
  return isDirectory && resolved !== '/' ? `${resolved}/` : resolved;
}
