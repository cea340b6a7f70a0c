import { describe, expect, it } from 'vitest';
import { isSlipwayError } from '../../../shared/errors.ts';
import type { EvaluatedStep, StageConfig, StepResult } from './evaluated-step.ts';
import { parseDockerfile, type ParseDockerfileOptions } from './parse-dockerfile.ts';
import { StageEvaluator, type StageStart } from './stage-evaluator.ts';
import { stepCacheKeyText } from './step-cache-key.ts';

const DEBIAN_CONFIG: StageConfig = {
  Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
  Cmd: ['bash'],
};

/** Evaluates every instruction of stage `stageIndex` (default: the last) and returns the results in order. */
function evaluateStage(text: string, options: ParseDockerfileOptions & { start?: StageStart; stageIndex?: number } = {}): StepResult[] {
  const plan = parseDockerfile(text, options);
  const stage = plan.stages[options.stageIndex ?? plan.stages.length - 1]!;
  const evaluator = new StageEvaluator(plan, stage, options.start ?? { config: DEBIAN_CONFIG });
  return stage.instructions.map((instruction) => evaluator.evaluate(instruction));
}

function lastConfig(text: string, options: Parameters<typeof evaluateStage>[1] = {}): StageConfig {
  return evaluateStage(text, options).at(-1)!.config;
}

function runSteps(text: string, options: Parameters<typeof evaluateStage>[1] = {}) {
  return evaluateStage(text, options)
    .map((result) => result.step)
    .filter((step): step is Extract<EvaluatedStep, { keyword: 'RUN' }> => step.keyword === 'RUN');
}

function evaluationError(text: string): { code: string; line: unknown; message: string } {
  try {
    evaluateStage(text);
  } catch (error) {
    if (!isSlipwayError(error)) throw error;
    return { code: error.code, line: error.details.line, message: error.message };
  }
  throw new Error('expected the evaluation to throw');
}

describe('StageEvaluator substitution', () => {
  it.each([
    ['WORKDIR ${DIR}', { WorkingDir: '/srv' }],
    ['USER ${NAME:-nobody}', { User: 'nobody' }],
    ['STOPSIGNAL $SIG', { StopSignal: 'SIGQUIT' }],
    ['LABEL version=$VERSION', { Labels: { version: '2.1' } }],
    ['VOLUME $DIR/data', { Volumes: { '/srv/data': {} } }],
    ['EXPOSE $PORT', { ExposedPorts: { '8080/tcp': {} } }],
  ])('substitutes variables in %s', (line, expected) => {
    const env = 'ENV DIR=/srv SIG=SIGQUIT VERSION=2.1 PORT=8080';
    expect(lastConfig(`FROM debian\n${env}\n${line}\n`)).toMatchObject(expected);
  });

  it('leaves RUN, CMD and ENTRYPOINT to the shell', () => {
    const results = evaluateStage('FROM debian\nENV A=1\nRUN echo $A\nCMD echo $A\nENTRYPOINT ["echo", "$A"]\n');
    expect(results[1]!.step).toMatchObject({ args: ['/bin/sh', '-c', 'echo $A'] });
    expect(results[3]!.config.Entrypoint).toEqual(['echo', '$A']);
  });

  it('gives every pair of one ENV the values from before it', () => {
    const config = lastConfig('FROM debian\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n');
    expect(config.Env).toEqual([...DEBIAN_CONFIG.Env!, 'abc=bye', 'def=hello', 'ghi=bye']);
  });

  it('substitutes values from the base image Env', () => {
    expect(lastConfig('FROM debian\nENV PATH=/app/bin:$PATH\n').Env).toEqual([`PATH=/app/bin:${DEBIAN_CONFIG.Env![0]!.slice(5)}`]);
  });

  it('keeps an escaped variable literal', () => {
    const [result] = evaluateStage('FROM debian\nCOPY \\$FOO /quux\n');
    expect(result!.step).toMatchObject({ sources: ['$FOO'], destination: '/quux' });
  });

  it('substitutes COPY flags', () => {
    const results = evaluateStage('FROM debian\nARG OWNER=1000:1000\nARG MODE=640\nCOPY --chown=$OWNER --chmod=$MODE a /a\n');
    expect(results[2]!.step).toMatchObject({ chown: '1000:1000', chmod: 0o640 });
  });

  it('reports a substitution error with the line', () => {
    expect(evaluationError('FROM debian\nWORKDIR ${DIR\n')).toMatchObject({ code: 'DOCKERFILE_INVALID', line: 2 });
  });
});

describe('StageEvaluator ENV forms', () => {
  it.each([
    ['ENV a=b c=d', ['a=b', 'c=d']],
    ['ENV MY_NAME="John Doe"', ['MY_NAME=John Doe']],
    ['ENV MY_DOG=Rex\\ The\\ Dog', ['MY_DOG=Rex The Dog']],
    ['ENV legacy one two  three', ['legacy=one two  three']],
    ["ENV single='$HOME'", ['single=$HOME']],
    ['ENV PATH=/bin', ['PATH=/bin']],
  ])('%s', (line, added) => {
    const base = line.includes('PATH=') ? [] : DEBIAN_CONFIG.Env!;
    expect(lastConfig(`FROM debian\n${line}\n`).Env).toEqual([...base, ...added]);
  });
});

describe('StageEvaluator ARG scoping', () => {
  it('keeps a global ARG out of a stage until the stage declares it', () => {
    const steps = runSteps('ARG VERSION=1.0\nFROM debian\nRUN echo\nARG VERSION\nRUN echo\n');
    expect(steps[0]!.env).not.toContain('VERSION=1.0');
    expect(steps[1]!.env).toContain('VERSION=1.0');
  });

  it('lets a stage substitute a global ARG only after redeclaring it', () => {
    const config = lastConfig('ARG V=global\nFROM debian\nLABEL before=${V:-unset}\nARG V\nLABEL after=$V\n');
    expect(config.Labels).toEqual({ before: 'unset', after: 'global' });
  });

  it.each([
    ['a build arg overrides the default', 'ARG V=default', { V: 'cli' }, 'V=cli'],
    ['the default applies without a build arg', 'ARG V=default', {}, 'V=default'],
    ['a build arg fills an ARG without a default', 'ARG V', { V: 'cli' }, 'V=cli'],
    ['a default may use earlier variables', 'ARG A=x\nARG V=$A-y', {}, 'V=x-y'],
  ])('%s', (_name, declaration, buildArgs, expected) => {
    const [run] = runSteps(`FROM debian\n${declaration}\nRUN env\n`, { buildArgs });
    expect(run!.env).toContain(expected);
  });

  it('leaves an ARG with no value out of the RUN environment', () => {
    const [run] = runSteps('FROM debian\nARG EMPTY\nRUN env\n');
    expect(run!.env.some((entry) => entry.startsWith('EMPTY'))).toBe(false);
  });

  it('puts ARG values in the RUN environment but not in the image config', () => {
    const results = evaluateStage('FROM debian\nARG TOKEN=abc\nRUN env\n');
    expect((results[1]!.step as { env: string[] }).env).toContain('TOKEN=abc');
    expect(results[1]!.config.Env).toEqual(DEBIAN_CONFIG.Env);
  });

  it('lets ENV override an ARG of the same name', () => {
    const [run] = runSteps('FROM ubuntu\nARG CONT_IMG_VER\nENV CONT_IMG_VER=v1.0.0\nRUN echo $CONT_IMG_VER\n', { buildArgs: { CONT_IMG_VER: 'v2.0.1' } });
    expect(run!.env).toContain('CONT_IMG_VER=v1.0.0');
    expect(run!.env).not.toContain('CONT_IMG_VER=v2.0.1');
  });

  it('resolves ${ARG:-default} in ENV from a build arg', () => {
    const text = 'FROM ubuntu\nARG CONT_IMG_VER\nENV CONT_IMG_VER=${CONT_IMG_VER:-v1.0.0}\n';
    expect(lastConfig(text).Env).toContain('CONT_IMG_VER=v1.0.0');
    expect(lastConfig(text, { buildArgs: { CONT_IMG_VER: 'v2' } }).Env).toContain('CONT_IMG_VER=v2');
  });

  it('gives the automatic platform ARGs to a stage that redeclares them', () => {
    const [run] = runSteps('FROM debian\nARG TARGETPLATFORM\nARG TARGETARCH\nRUN env\n');
    expect(run!.env).toEqual(expect.arrayContaining(['TARGETPLATFORM=linux/amd64', 'TARGETARCH=amd64']));
  });

  it('passes proxy build args to RUN without an ARG, apart from the cached environment', () => {
    const [run] = runSteps('FROM debian\nRUN apt-get update\n', { buildArgs: { HTTP_PROXY: 'http://127.0.0.1:3128' } });
    expect(run!.proxyEnv).toEqual(['HTTP_PROXY=http://127.0.0.1:3128']);
    expect(run!.env).not.toContain('HTTP_PROXY=http://127.0.0.1:3128');
    expect(stepCacheKeyText(run!)).not.toContain('3128');
  });

  it('inherits the ARGs of its base stage', () => {
    const text = 'FROM debian AS base\nARG MODE=release\nFROM base\nRUN make\n';
    const plan = parseDockerfile(text);
    const base = new StageEvaluator(plan, plan.stages[0]!, { config: DEBIAN_CONFIG });
    for (const instruction of plan.stages[0]!.instructions) base.evaluate(instruction);
    const child = new StageEvaluator(plan, plan.stages[1]!, base.snapshot());
    const step = child.evaluate(plan.stages[1]!.instructions[0]!);
    expect(step.step).toMatchObject({ env: expect.arrayContaining(['MODE=release']) });
  });
});

describe('StageEvaluator WORKDIR', () => {
  it.each([
    [['WORKDIR /a', 'WORKDIR b', 'WORKDIR c'], '/a/b/c'],
    [['WORKDIR /a/', 'WORKDIR ../x'], '/x'],
    [['WORKDIR relative'], '/relative'],
    [['WORKDIR /a', 'WORKDIR /b'], '/b'],
    [['ENV DIRPATH=/path', 'WORKDIR $DIRPATH/$DIRNAME'], '/path'],
  ])('%j ends in %s', (lines, expected) => {
    expect(lastConfig(`FROM debian\n${lines.join('\n')}\n`).WorkingDir).toBe(expected);
  });

  it('joins a relative WORKDIR to the base image WorkingDir', () => {
    expect(lastConfig('FROM node\nWORKDIR app\n', { start: { config: { WorkingDir: '/home/node' } } }).WorkingDir).toBe('/home/node/app');
  });

  it('resolves a relative COPY destination against WORKDIR and keeps a trailing slash', () => {
    const steps = evaluateStage('FROM debian\nWORKDIR /usr/src/app\nCOPY test.txt rel/\nCOPY a.txt .\nCOPY b.txt b\n').map((result) => result.step);
    expect(steps.slice(1).map((step) => (step as { destination: string }).destination)).toEqual(['/usr/src/app/rel/', '/usr/src/app/', '/usr/src/app/b']);
  });

  it('runs RUN in the WORKDIR as the USER in effect', () => {
    const [run] = runSteps('FROM debian\nWORKDIR /app\nUSER 1000:1000\nRUN make\n');
    expect(run).toMatchObject({ workdir: '/app', user: '1000:1000' });
  });
});

describe('StageEvaluator SHELL, CMD and ENTRYPOINT', () => {
  it('wraps shell-form RUN, CMD and ENTRYPOINT in the current SHELL', () => {
    const results = evaluateStage('FROM debian\nRUN echo a\nSHELL ["/bin/bash", "-c"]\nRUN echo b\nCMD echo c\n');
    expect((results[0]!.step as { args: string[] }).args).toEqual(['/bin/sh', '-c', 'echo a']);
    expect((results[2]!.step as { args: string[] }).args).toEqual(['/bin/bash', '-c', 'echo b']);
    expect(results[3]!.config.Cmd).toEqual(['/bin/bash', '-c', 'echo c']);
    expect(results[3]!.config.Shell).toEqual(['/bin/bash', '-c']);
  });

  it('keeps exec form RUN as written', () => {
    const [run] = runSteps('FROM debian\nSHELL ["/bin/bash", "-c"]\nRUN ["echo", "a"]\n');
    expect(run!.args).toEqual(['echo', 'a']);
  });

  it.each([
    ['a new ENTRYPOINT resets an inherited CMD', 'ENTRYPOINT ["top", "-b"]', ['top', '-b'], null],
    ['CMD after ENTRYPOINT stays', 'ENTRYPOINT ["top", "-b"]\nCMD ["-c"]', ['top', '-b'], ['-c']],
    ['CMD before ENTRYPOINT in the same stage stays', 'CMD ["-c"]\nENTRYPOINT ["top", "-b"]', ['top', '-b'], ['-c']],
    ['shell form ENTRYPOINT', 'ENTRYPOINT exec top -b', ['/bin/sh', '-c', 'exec top -b'], null],
    ['ENTRYPOINT [] clears it', 'ENTRYPOINT []', null, null],
    ['CMD alone keeps the inherited ENTRYPOINT', 'CMD ["x"]', undefined, ['x']],
  ])('%s', (_name, lines, entrypoint, cmd) => {
    const config = lastConfig(`FROM debian\n${lines}\n`);
    expect(config.Entrypoint).toEqual(entrypoint);
    expect(config.Cmd).toEqual(cmd);
  });

  it('writes an empty exec CMD as an empty list', () => {
    expect(lastConfig('FROM debian\nCMD []\n').Cmd).toEqual([]);
  });
});

describe('StageEvaluator EXPOSE', () => {
  it.each([
    ['5000', ['5000/tcp']],
    ['5000/tcp', ['5000/tcp']],
    ['53/udp', ['53/udp']],
    ['53/UDP', ['53/udp']],
    ['80 443', ['80/tcp', '443/tcp']],
    ['8000-8002', ['8000/tcp', '8001/tcp', '8002/tcp']],
  ])('EXPOSE %s', (ports, keys) => {
    expect(Object.keys(lastConfig(`FROM debian\nEXPOSE ${ports}\n`).ExposedPorts ?? {})).toEqual(keys);
  });

  it('splits a variable holding several ports', () => {
    expect(Object.keys(lastConfig('FROM debian\nENV PORTS="80 443/udp"\nEXPOSE $PORTS\n').ExposedPorts ?? {})).toEqual(['80/tcp', '443/udp']);
  });

  it('adds to the ports of the base image', () => {
    const config = lastConfig('FROM debian\nEXPOSE 80\n', { start: { config: { ExposedPorts: { '22/tcp': {} } } } });
    expect(config.ExposedPorts).toEqual({ '22/tcp': {}, '80/tcp': {} });
  });

  it.each([
    ['0', /not a valid port/],
    ['70000', /not a valid port/],
    ['80/http', /tcp, udp or sctp/],
    ['8080:80', /maps a host port/],
    ['web', /not a valid port/],
  ])('rejects EXPOSE %s', (ports, message) => {
    const error = evaluationError(`FROM debian\nEXPOSE ${ports}\n`);
    expect(error).toMatchObject({ code: 'DOCKERFILE_INVALID', line: 2 });
    expect(error.message).toMatch(message);
  });
});

describe('StageEvaluator config instructions', () => {
  it('sets HEALTHCHECK with durations in nanoseconds', () => {
    const config = lastConfig('FROM debian\nHEALTHCHECK --interval=5m --timeout=3s --start-period=1m30s --retries=4 CMD curl -f http://localhost/\n');
    expect(config.Healthcheck).toEqual({
      Test: ['CMD-SHELL', 'curl -f http://localhost/'],
      Interval: 300e9,
      Timeout: 3e9,
      StartPeriod: 90e9,
      Retries: 4,
    });
  });

  it('sets HEALTHCHECK exec form and NONE', () => {
    expect(lastConfig('FROM debian\nHEALTHCHECK CMD ["/bin/check"]\n').Healthcheck).toEqual({ Test: ['CMD', '/bin/check'] });
    expect(lastConfig('FROM debian\nHEALTHCHECK NONE\n').Healthcheck).toEqual({ Test: ['NONE'] });
  });

  it.each([
    ['--interval=5', /not a duration/],
    ['--timeout=10us', /shorter than the minimum of 1ms/],
    ['--retries=-1', /not a whole number/],
  ])('rejects HEALTHCHECK %s', (option, message) => {
    expect(evaluationError(`FROM debian\nHEALTHCHECK ${option} CMD true\n`).message).toMatch(message);
  });

  it.each(['SIGTERM', 'sigquit', 'KILL', '9', 'SIGRTMIN+3'])('accepts STOPSIGNAL %s', (signal) => {
    expect(lastConfig(`FROM debian\nSTOPSIGNAL ${signal}\n`).StopSignal).toBe(signal);
  });

  it.each(['SIGBOGUS', '0', '65'])('rejects STOPSIGNAL %s', (signal) => {
    expect(evaluationError(`FROM debian\nSTOPSIGNAL ${signal}\n`)).toMatchObject({ code: 'DOCKERFILE_INVALID', line: 2 });
  });

  it('keeps the labels of the base image and overrides one with a new value', () => {
    const config = lastConfig('FROM debian\nLABEL "com.example.vendor"="ACME Inc" keep=new\n', { start: { config: { Labels: { keep: 'old', other: 'x' } } } });
    expect(config.Labels).toEqual({ keep: 'new', other: 'x', 'com.example.vendor': 'ACME Inc' });
  });

  it('sets the author from MAINTAINER, not a label', () => {
    const [result] = evaluateStage('FROM debian\nMAINTAINER Jane <jane@example.com>\n');
    expect(result!.author).toBe('Jane <jane@example.com>');
    expect(result!.config.Labels).toBeUndefined();
  });

  it('keeps ONBUILD triggers as text in the config', () => {
    expect(lastConfig('FROM debian\nONBUILD COPY . /app/src\nONBUILD RUN make\n').OnBuild).toEqual(['COPY . /app/src', 'RUN make']);
  });

  it('parses the ONBUILD triggers of the base image and does not pass them on', () => {
    const plan = parseDockerfile('FROM builder\nRUN make\n');
    const evaluator = new StageEvaluator(plan, plan.stages[0]!, { config: { OnBuild: ['COPY . /app/src', 'RUN /build.sh'] } });
    expect(evaluator.onbuildTriggers).toMatchObject([
      { keyword: 'COPY', sources: ['.'], destination: '/app/src' },
      { keyword: 'RUN', command: { script: '/build.sh' } },
    ]);
    expect(evaluator.evaluate(plan.stages[0]!.instructions[0]!).config.OnBuild).toBeUndefined();
  });

  it('does not change the base config it was given', () => {
    const base: StageConfig = { Env: ['A=1'] };
    lastConfig('FROM debian\nENV B=2\n', { start: { config: base } });
    expect(base).toEqual({ Env: ['A=1'] });
  });
});

describe('stepCacheKeyText', () => {
  it('is the same for the same step on another line and changes with the environment', () => {
    const first = runSteps('FROM debian\nENV A=1\nRUN make\n')[0]!;
    const moved = runSteps('FROM debian\n\n\nENV A=1\nRUN make\n')[0]!;
    const changed = runSteps('FROM debian\nENV A=2\nRUN make\n')[0]!;
    expect(stepCacheKeyText(moved)).toBe(stepCacheKeyText(first));
    expect(stepCacheKeyText(changed)).not.toBe(stepCacheKeyText(first));
  });

  it('is valid JSON with sorted keys', () => {
    const text = stepCacheKeyText(runSteps('FROM debian\nRUN make\n')[0]!);
    const keys = Object.keys(JSON.parse(text) as object);
    expect(keys).toEqual([...keys].sort());
  });
});
