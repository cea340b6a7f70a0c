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
    expect(results[2]!.step).toMatchObject({ chown: '1000:1000', chmod: { kind: 'octal', mode: 0o640 } });
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

describe('StageEvaluator examples of the reference', () => {
  it.each([
    ['a later pair of one ENV sees the value from before it', 'ENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc', ['abc=bye', 'def=hello', 'ghi=bye']],
    ['${v:-w} falls back before an ARG is declared', 'USER ${username:-some_user}\nENV seen=${username:-some_user}', ['seen=some_user']],
    ['${v:+w} gives the word once a value is set', 'ENV FOO=/bar\nENV set=${FOO:+yes} unset=${NOPE:+yes}', ['set=yes', 'unset=']],
  ])('%s', (_name, body, entries) => {
    expect(lastConfig(`FROM busybox\n${body}\n`).Env).toEqual(expect.arrayContaining(entries));
  });

  it('keeps an escaped variable in a COPY source and substitutes the destination', () => {
    const results = evaluateStage('FROM busybox\nENV FOO=/bar\nWORKDIR ${FOO}\nADD . $FOO\nCOPY \\$FOO /quux\n');
    expect(results[1]!.config.WorkingDir).toBe('/bar');
    expect(results[2]!.step).toMatchObject({ sources: ['.'], destination: '/bar' });
    expect(results[3]!.step).toMatchObject({ sources: ['$FOO'], destination: '/quux' });
  });

  it.each([
    ['without a build arg', {}, 'some_user', 'some_user'],
    ['with a build arg', { username: 'what_user' }, 'some_user', 'what_user'],
  ])('uses an ARG only from its declaration on, %s', (_name, buildArgs, before, after) => {
    const results = evaluateStage('FROM busybox\nUSER ${username:-some_user}\nARG username=some_user\nUSER $username\n', { buildArgs });
    expect(results[0]!.config.User).toBe(before);
    expect(results[2]!.config.User).toBe(after);
  });

  it('brings the default of a global ARG into a stage that declares it without a value', () => {
    const [run] = runSteps('ARG VERSION=latest\nFROM busybox:$VERSION\nARG VERSION\nRUN echo $VERSION > image_version\n');
    expect(run!.env).toContain('VERSION=latest');
  });

  it('keeps an ARG of one stage out of the next stage', () => {
    const [run] = runSteps('FROM busybox AS one\nARG ONLY_ONE=1\nFROM busybox\nRUN env\n');
    expect(run!.env.some((entry) => entry.startsWith('ONLY_ONE'))).toBe(false);
  });
});

describe('StageEvaluator RUN here-documents', () => {
  it.each([
    ['runs a lone here-document with the shell', 'RUN <<EOF\necho one\necho two\nEOF', ['/bin/sh', '-c', 'echo one\necho two\n'], []],
    ['strips tabs of a <<- body', 'RUN <<-EOF\n\techo one\n\tEOF', ['/bin/sh', '-c', 'echo one\n'], []],
    [
      'hands a command with a here-document back to the shell',
      'RUN cat <<EOF > /greeting\nhello $HOME\nEOF',
      ['/bin/sh', '-c', 'cat <<EOF > /greeting\nhello $HOME\nEOF'],
      [],
    ],
    [
      'hands two here-documents back to the shell in order',
      "RUN cat <<A <<'B'\na\nA\nb\nB",
      ['/bin/sh', '-c', "cat <<A <<'B'\na\nA\nb\nB"],
      [],
    ],
    [
      'runs a body with #! as a script file',
      'RUN <<run.py\n#!/usr/bin/env python3\nprint(1)\nrun.py',
      ['/bin/sh', '-c', '/dev/pipes/run.py'],
      [{ name: 'run.py', content: '#!/usr/bin/env python3\nprint(1)\n' }],
    ],
  ])('%s', (_name, body, args, scripts) => {
    const [run] = runSteps(`FROM debian\n${body}\n`);
    expect(run).toMatchObject({ args, scripts });
  });

  it('uses the SHELL instruction for a here-document', () => {
    const [run] = runSteps('FROM debian\nSHELL ["/bin/bash", "-eu", "-c"]\nRUN <<EOF\nset -o pipefail\nEOF\n');
    expect(run!.args).toEqual(['/bin/bash', '-eu', '-c', 'set -o pipefail\n']);
  });

  it('puts the body into the cache key', () => {
    const key = (body: string) => stepCacheKeyText(runSteps(`FROM debian\nRUN <<EOF\n${body}\nEOF\n`)[0]!);
    expect(key('echo one')).not.toBe(key('echo two'));
  });
});

describe('StageEvaluator COPY here-documents and flags', () => {
  function copyStep(body: string, buildArgs: Record<string, string> = {}) {
    return evaluateStage(`FROM debian\nARG NAME=world\n${body}\n`, { buildArgs })[1]!.step;
  }

  it.each([
    ['substitutes an unquoted body, keeping quotes', 'COPY <<EOF /greeting\nsay "hello $NAME"\nEOF', 'say "hello world"\n'],
    ['keeps a quoted body as written', "COPY <<'EOF' /greeting\nhello $NAME\nEOF", 'hello $NAME\n'],
    ['keeps an unset variable as written', 'COPY <<EOF /script.sh\necho "$1 $UNSET"\nEOF', 'echo "$1 $UNSET"\n'],
    ['takes a build arg', 'COPY <<EOF /greeting\n${NAME}\nEOF', 'cli\n', { NAME: 'cli' }],
  ])('%s', (_name, body, content, buildArgs: Record<string, string> = {}) => {
    expect(copyStep(body, buildArgs)).toMatchObject({ inlineFiles: [{ name: 'EOF', content }] });
  });

  it('names several inline files by their delimiters beside plain sources', () => {
    expect(copyStep('COPY <<one.txt app.py <<two.txt /dest/\n1\none.txt\n2\ntwo.txt')).toMatchObject({
      sources: ['app.py'],
      inlineFiles: [{ name: 'one.txt', content: '1\n' }, { name: 'two.txt', content: '2\n' }],
      destination: '/dest/',
    });
  });

  it('reads --exclude, --parents, --link and a symbolic --chmod', () => {
    expect(copyStep('COPY --link --parents --exclude=*.md --exclude=$NAME/** --chmod=u=rwX,go=rX src/ /app/')).toMatchObject({
      link: true,
      parents: true,
      exclude: ['*.md', 'world/**'],
      chmod: { kind: 'symbolic', expression: 'u=rwX,go=rX' },
    });
  });

  it('reads the ADD flags for remote sources', () => {
    expect(copyStep('ADD --checksum=sha256:$NAME --keep-git-dir --unpack=true https://127.0.0.1/a.tar.gz /a/')).toMatchObject({
      checksum: 'sha256:world',
      keepGitDir: true,
      unpack: true,
    });
  });
});

describe('StageEvaluator RUN flags', () => {
  it('substitutes mount values and anchors a relative target at WORKDIR', () => {
    const [run] = runSteps('FROM debian\nARG ID=pip\nWORKDIR /src\nRUN --mount=type=cache,id=$ID,target=.cache --mount=type=tmpfs,target=/tmp pip install\n');
    expect(run!.mounts).toMatchObject([
      { type: 'cache', id: 'pip', target: '/src/.cache' },
      { type: 'tmpfs', target: '/tmp' },
    ]);
  });

  it('reads --network=none', () => {
    expect(runSteps('FROM debian\nRUN --network=none true\n')[0]!.network).toBe('none');
    expect(runSteps('FROM debian\nRUN true\n')[0]!.network).toBe('default');
  });

  it('puts the mounts into the cache key', () => {
    const key = (flag: string) => stepCacheKeyText(runSteps(`FROM debian\nRUN ${flag} make\n`)[0]!);
    expect(key('--mount=type=cache,target=/a')).not.toBe(key('--mount=type=cache,target=/b'));
  });

  it.each([
    ['an ssh mount', 'RUN --mount=type=ssh git clone', 'DOCKERFILE_UNSUPPORTED', /type=ssh is not supported/],
    ['a mount without a target', 'RUN --mount=type=cache make', 'DOCKERFILE_INVALID', /needs a target/],
  ])('rejects %s with the line', (_name, line, code, message) => {
    const error = evaluationError(`FROM debian\n${line}\n`);
    expect(error).toMatchObject({ code, line: 2 });
    expect(error.message).toMatch(message);
  });
});
