import { describe, expect, it } from 'vitest';
import { isSlipwayError } from '../../../shared/errors.ts';
import type { StageInstruction } from './instruction-types.ts';
import { parseDockerfile } from './parse-dockerfile.ts';

/** The instructions of the only (or last) stage of a Dockerfile made of `body` after `FROM debian`. */
function instructionsOf(body: string): StageInstruction[] {
  const plan = parseDockerfile(`FROM debian\n${body}\n`);
  return plan.stages.at(-1)!.instructions;
}

function onlyInstruction(body: string): StageInstruction {
  const [instruction] = instructionsOf(body);
  return instruction!;
}

function parseError(text: string, options = {}): { code: string; line: unknown; column: unknown; message: string } {
  try {
    parseDockerfile(text, options);
  } catch (error) {
    if (!isSlipwayError(error)) throw error;
    return { code: error.code, line: error.details.line, column: error.details.column, message: error.message };
  }
  throw new Error('expected parseDockerfile to throw');
}

describe('parseDockerfile instruction forms', () => {
  it.each([
    ['RUN shell form', 'RUN apt-get install -y curl', { form: 'shell', script: 'apt-get install -y curl' }],
    ['RUN exec form', 'RUN ["echo", "a b"]', { form: 'exec', args: ['echo', 'a b'] }],
    ['RUN exec form keeps escaped backslashes', 'RUN ["c:\\\\dir"]', { form: 'exec', args: ['c:\\dir'] }],
    ['RUN invalid JSON without commas falls back to shell form', 'RUN [ -f /etc/passwd ]', { form: 'shell', script: '[ -f /etc/passwd ]' }],
  ])('%s', (_name, line, command) => {
    expect(onlyInstruction(line)).toMatchObject({ keyword: 'RUN', command });
  });

  it.each([
    ['CMD shell form', 'CMD python app.py', 'CMD', { form: 'shell', script: 'python app.py' }],
    ['CMD exec form', 'CMD ["python", "app.py"]', 'CMD', { form: 'exec', args: ['python', 'app.py'] }],
    ['ENTRYPOINT exec form', 'ENTRYPOINT ["/entry.sh"]', 'ENTRYPOINT', { form: 'exec', args: ['/entry.sh'] }],
    ['ENTRYPOINT empty exec form', 'ENTRYPOINT []', 'ENTRYPOINT', { form: 'exec', args: [] }],
  ])('%s', (_name, line, keyword, command) => {
    expect(onlyInstruction(line)).toMatchObject({ keyword, command });
  });

  it.each([
    ['several sources and a destination', 'COPY a.txt b.txt /dest/', ['a.txt', 'b.txt'], '/dest/', { link: false }],
    ['JSON form with spaces in paths', 'COPY ["my file.txt", "/my dir/"]', ['my file.txt'], '/my dir/', { link: false }],
    ['--chown and --chmod', 'COPY --chown=app:app --chmod=755 run.sh /app/', ['run.sh'], '/app/', { chown: 'app:app', chmod: '755', link: false }],
    ['a quoted flag value', 'COPY --chown="1000:1000" x /x', ['x'], '/x', { chown: '1000:1000', link: false }],
    ['--link', 'COPY --link a /a', ['a'], '/a', { link: true }],
    ['-- ends the flags', 'COPY -- --weird-name /x', ['--weird-name'], '/x', { link: false }],
  ])('COPY with %s', (_name, line, sources, destination, flags) => {
    expect(onlyInstruction(line)).toMatchObject({ keyword: 'COPY', sources, destination, flags, source: { kind: 'context' } });
  });

  it('reads ADD like COPY', () => {
    expect(onlyInstruction('ADD --chown=1 app.tar.gz /srv/')).toMatchObject({ keyword: 'ADD', sources: ['app.tar.gz'], destination: '/srv/', flags: { chown: '1' } });
  });

  it.each([
    ['key=value pairs keep their quotes for substitution', 'ENV a=b c="d e"', [{ key: 'a', value: 'b' }, { key: 'c', value: '"d e"' }]],
    ['the legacy form takes the rest of the line as the value', 'ENV MY_VAR my value here', [{ key: 'MY_VAR', value: 'my value here' }]],
    ['the legacy form with = later in the line', 'ENV ONE TWO= THREE=world', [{ key: 'ONE', value: 'TWO= THREE=world' }]],
    ['an escaped space stays in the value', 'ENV MY_DOG=Rex\\ The\\ Dog', [{ key: 'MY_DOG', value: 'Rex\\ The\\ Dog' }]],
    ['an empty value', 'ENV EMPTY=', [{ key: 'EMPTY', value: '' }]],
  ])('ENV: %s', (_name, line, pairs) => {
    expect(onlyInstruction(line)).toMatchObject({ keyword: 'ENV', pairs });
  });

  it('reads LABEL pairs with quoted keys', () => {
    expect(onlyInstruction('LABEL "com.example.vendor"="ACME Inc" version=1.0')).toMatchObject({
      keyword: 'LABEL',
      pairs: [{ key: '"com.example.vendor"', value: '"ACME Inc"' }, { key: 'version', value: '1.0' }],
    });
  });

  it.each([
    ['with a default', 'ARG VERSION=1.0', [{ name: 'VERSION', defaultValue: '1.0' }]],
    ['without a default', 'ARG VERSION', [{ name: 'VERSION' }]],
    ['several at once', 'ARG A B=2', [{ name: 'A' }, { name: 'B', defaultValue: '2' }]],
  ])('ARG %s', (_name, line, args) => {
    expect(onlyInstruction(line)).toMatchObject({ keyword: 'ARG', args });
  });

  it.each([
    ['EXPOSE', 'EXPOSE 5000 5000/tcp 53/udp', { keyword: 'EXPOSE', ports: ['5000', '5000/tcp', '53/udp'] }],
    ['VOLUME plain', 'VOLUME /var/log /var/db', { keyword: 'VOLUME', paths: ['/var/log', '/var/db'] }],
    ['VOLUME JSON', 'VOLUME ["/data"]', { keyword: 'VOLUME', paths: ['/data'] }],
    ['WORKDIR', 'WORKDIR /app', { keyword: 'WORKDIR', value: '/app' }],
    ['USER', 'USER app:staff', { keyword: 'USER', value: 'app:staff' }],
    ['STOPSIGNAL', 'STOPSIGNAL SIGQUIT', { keyword: 'STOPSIGNAL', value: 'SIGQUIT' }],
    ['MAINTAINER', 'MAINTAINER Jane <jane@example.com>', { keyword: 'MAINTAINER', value: 'Jane <jane@example.com>' }],
    ['SHELL', 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]', { keyword: 'SHELL', shell: ['/bin/bash', '-o', 'pipefail', '-c'] }],
    ['ONBUILD keeps the trigger as text', 'ONBUILD RUN echo $HOME', { keyword: 'ONBUILD', trigger: 'RUN echo $HOME' }],
    ['HEALTHCHECK NONE', 'HEALTHCHECK NONE', { keyword: 'HEALTHCHECK', check: { type: 'none' } }],
    ['lowercase keywords', 'run echo hi', { keyword: 'RUN', command: { form: 'shell', script: 'echo hi' } }],
  ])('%s', (_name, line, expected) => {
    expect(onlyInstruction(line)).toMatchObject(expected);
  });

  it('reads HEALTHCHECK CMD with its options', () => {
    expect(onlyInstruction('HEALTHCHECK --interval=5m --timeout=3s --retries=2 CMD curl -f http://localhost/ || exit 1')).toMatchObject({
      keyword: 'HEALTHCHECK',
      check: {
        type: 'command',
        command: { form: 'shell', script: 'curl -f http://localhost/ || exit 1' },
        options: { interval: '5m', timeout: '3s', retries: '2' },
      },
    });
  });
});

describe('parseDockerfile lines and continuations', () => {
  it('numbers each instruction by its first line and joins continuations', () => {
    const plan = parseDockerfile('# comment\n\nFROM debian\nRUN apt-get update \\\n    && apt-get install -y curl\nCMD ["sh"]\n');
    expect(plan.stages[0]!.line).toBe(3);
    expect(plan.stages[0]!.instructions.map((instruction) => [instruction.line, instruction.text])).toEqual([
      [4, 'RUN apt-get update     && apt-get install -y curl'],
      [6, 'CMD ["sh"]'],
    ]);
  });

  it('drops comment lines and blank lines inside a continued instruction', () => {
    const [run] = instructionsOf('RUN echo hello \\\n# a comment\n\n  world');
    expect(run).toMatchObject({ command: { form: 'shell', script: 'echo hello   world' } });
  });

  it('accepts spaces after the continuation character', () => {
    const [run] = instructionsOf('RUN echo a \\  \n b');
    expect(run).toMatchObject({ command: { script: 'echo a  b' } });
  });

  it('keeps # inside an instruction as text', () => {
    expect(onlyInstruction("RUN echo 'we are running some # of cool things'")).toMatchObject({
      command: { script: "echo 'we are running some # of cool things'" },
    });
  });

  it('uses the escape directive for continuations and keeps backslashes', () => {
    const plan = parseDockerfile('# escape=`\n\nFROM microsoft/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\ `\n  /b\n');
    expect(plan.escapeCharacter).toBe('`');
    expect(plan.stages[0]!.instructions).toMatchObject([
      { line: 4, keyword: 'COPY', sources: ['testfile.txt'], destination: 'c:\\' },
      { line: 5, keyword: 'RUN', command: { script: 'dir c:\\   /b' } },
    ]);
  });

  it('records the syntax directive', () => {
    expect(parseDockerfile('# syntax=docker/dockerfile:1\nFROM debian\n').syntax).toBe('docker/dockerfile:1');
  });

  it('reads CRLF line ends and a byte order mark', () => {
    const plan = parseDockerfile('\uFEFFFROM debian\r\nRUN a \\\r\n  b\r\n');
    expect(plan.stages[0]!.instructions).toMatchObject([{ line: 2, command: { script: 'a   b' } }]);
  });
});

describe('parseDockerfile stages', () => {
  const multiStage = [
    'ARG GO_VERSION=1.22',
    'FROM golang:${GO_VERSION} AS build',
    'RUN go build -o /out/app',
    'FROM debian:bookworm AS tools',
    'RUN apt-get install -y jq',
    'FROM build AS test',
    'RUN go test ./...',
    'FROM scratch AS final',
    'COPY --from=build /out/app /app',
    'COPY --from=1 /usr/bin/jq /jq',
    'COPY --from=nginx:1.27 /etc/nginx/nginx.conf /nginx.conf',
  ].join('\n');

  it('resolves bases: images with global ARGs, earlier stages and scratch', () => {
    const plan = parseDockerfile(multiStage);
    expect(plan.stages.map((stage) => [stage.index, stage.name, stage.base])).toEqual([
      [0, 'build', { kind: 'image', reference: 'golang:1.22', image: { registry: 'docker.io', repository: 'library/golang', tag: '1.22' } }],
      [1, 'tools', { kind: 'image', reference: 'debian:bookworm', image: { registry: 'docker.io', repository: 'library/debian', tag: 'bookworm' } }],
      [2, 'test', { kind: 'stage', index: 0 }],
      [3, 'final', { kind: 'scratch' }],
    ]);
  });

  it('resolves COPY --from to a stage by name, a stage by index, or an image', () => {
    const sources = parseDockerfile(multiStage).stages[3]!.instructions.map((instruction) => (instruction.keyword === 'COPY' ? instruction.source : undefined));
    expect(sources).toEqual([
      { kind: 'stage', index: 0 },
      { kind: 'stage', index: 1 },
      { kind: 'image', reference: 'nginx:1.27', image: { registry: 'docker.io', repository: 'library/nginx', tag: '1.27' } },
    ]);
  });

  it.each([
    ['the last stage by default', undefined, 3, [0, 1, 3]],
    ['a target through FROM <stage>', 'test', 2, [0, 2]],
    ['a target with no dependencies', 'tools', 1, [1]],
    ['a target named in another case', 'BUILD', 0, [0]],
  ])('builds %s', (_name, target, expectedTarget, needed) => {
    const plan = parseDockerfile(multiStage, { target });
    expect(plan.target).toBe(expectedTarget);
    expect(plan.neededStages).toEqual(needed);
  });

  it('reports an unknown target with the stages that exist', () => {
    const error = parseError(multiStage, { target: 'prod' });
    expect(error.code).toBe('DOCKERFILE_TARGET_NOT_FOUND');
    expect(error.message).toContain('"prod"');
    expect(error.message).toContain('build, tools, test, final');
  });

  it('resolves a digest reference', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(parseDockerfile(`FROM debian@${digest}\n`).stages[0]!.base).toEqual({
      kind: 'image',
      reference: `debian@${digest}`,
      image: { registry: 'docker.io', repository: 'library/debian', digest, tag: undefined },
    });
  });

  it.each([
    ['linux/amd64', 'linux/amd64'],
    ['$BUILDPLATFORM', 'linux/amd64'],
    ['${TARGETPLATFORM}', 'linux/amd64'],
  ])('accepts --platform=%s', (platform, expected) => {
    expect(parseDockerfile(`FROM --platform=${platform} debian\n`).stages[0]!.platform).toBe(expected);
  });

  it('rejects another platform with its name', () => {
    const error = parseError('FROM --platform=linux/arm64 debian\n');
    expect(error).toMatchObject({ code: 'DOCKERFILE_UNSUPPORTED', line: 1 });
    expect(error.message).toContain('"linux/arm64"');
  });
});

describe('parseDockerfile build args', () => {
  it('overrides a global ARG default with a build arg', () => {
    const plan = parseDockerfile('ARG TAG=bookworm\nFROM debian:${TAG}\n', { buildArgs: { TAG: 'trixie' } });
    expect(plan.stages[0]!.base).toMatchObject({ reference: 'debian:trixie' });
  });

  it('lists build args that no ARG declares, without failing', () => {
    const plan = parseDockerfile('ARG USED\nFROM debian\nARG ALSO_USED\n', {
      buildArgs: { USED: '1', ALSO_USED: '2', UNUSED: '3', HTTP_PROXY: 'http://127.0.0.1:3128', SOURCE_DATE_EPOCH: '1700000000' },
    });
    expect(plan.unusedBuildArgs).toEqual(['UNUSED']);
    expect(plan.warnings).toEqual([{ message: 'build args not declared by any ARG were ignored: UNUSED' }]);
  });
});

describe('parseDockerfile errors', () => {
  it.each([
    ['an unknown instruction', 'FROM debian\nRUNN echo\n', 'DOCKERFILE_UNKNOWN_INSTRUCTION', 2, /unknown instruction RUNN/],
    ['an unknown instruction before FROM', 'FORM debian\n', 'DOCKERFILE_UNKNOWN_INSTRUCTION', 1, /FORM/],
    ['an empty Dockerfile', '', 'DOCKERFILE_INVALID', 1, /no instructions/],
    ['a Dockerfile of comments only', '# just a comment\n\n', 'DOCKERFILE_INVALID', 1, /no instructions/],
    ['only ARGs and no FROM', 'ARG A=1\n', 'DOCKERFILE_INVALID', 1, /no FROM/],
    ['RUN before the first FROM', 'ARG A=1\nRUN echo\nFROM debian\n', 'DOCKERFILE_INVALID', 2, /before the first FROM/],
    ['FROM with no image', 'FROM\n', 'DOCKERFILE_INVALID', 1, /FROM needs an image/],
    ['FROM with a stray word', 'FROM debian bookworm\n', 'DOCKERFILE_INVALID', 1, /FROM takes an image/],
    ['an invalid stage name', 'FROM debian AS 1st\n', 'DOCKERFILE_INVALID', 1, /stage name "1st" is invalid/],
    ['a repeated stage name', 'FROM debian AS a\nFROM debian AS a\n', 'DOCKERFILE_INVALID', 2, /already used by the stage on line 1/],
    ['an invalid image reference', 'FROM Debian:latest\n', 'DOCKERFILE_INVALID', 1, /Debian:latest/],
    ['a base that is empty after substitution', 'ARG IMAGE\nFROM ${IMAGE}\n', 'DOCKERFILE_INVALID', 2, /empty after substituting/],
    ['COPY with one argument', 'FROM debian\nCOPY app.py\n', 'DOCKERFILE_INVALID', 2, /COPY needs at least one source and a destination/],
    ['COPY --from a later stage', 'FROM debian\nCOPY --from=later /a /a\nFROM debian AS later\n', 'DOCKERFILE_INVALID', 2, /comes later/],
    ['COPY --from its own index', 'FROM debian\nCOPY --from=0 /a /a\n', 'DOCKERFILE_INVALID', 2, /earlier stage/],
    ['an unknown flag', 'FROM debian\nCOPY --frm=build /a /a\n', 'DOCKERFILE_INVALID', 2, /unknown flag --frm/],
    ['a string flag without a value', 'FROM debian\nCOPY --from /a /b\n', 'DOCKERFILE_INVALID', 2, /--from needs a value/],
    ['a flag on ENV', 'FROM debian\nENV --x=1 a=b\n', 'DOCKERFILE_INVALID', 2, /unknown flag --x/],
    ['a JSON array with a number', 'FROM debian\nCMD ["sleep", 5]\n', 'DOCKERFILE_INVALID', 2, /not a string/],
    ['a single-quoted exec form', "FROM debian\nCMD ['python', 'app.py']\n", 'DOCKERFILE_INVALID', 2, /not a valid JSON array/],
    ['SHELL in shell form', 'FROM debian\nSHELL /bin/bash -c\n', 'DOCKERFILE_INVALID', 2, /SHELL must be a JSON array/],
    ['ENV pairs missing =', 'FROM debian\nENV a=b c\n', 'DOCKERFILE_INVALID', 2, /"c" has no "="/],
    ['ENV with a name and no value', 'FROM debian\nENV a\n', 'DOCKERFILE_INVALID', 2, /needs a value/],
    ['EXPOSE with no port', 'FROM debian\nEXPOSE\n', 'DOCKERFILE_INVALID', 2, /EXPOSE needs at least one argument/],
    ['WORKDIR with no path', 'FROM debian\nWORKDIR\n', 'DOCKERFILE_INVALID', 2, /WORKDIR needs exactly one argument/],
    ['HEALTHCHECK of an unknown type', 'FROM debian\nHEALTHCHECK RUN true\n', 'DOCKERFILE_INVALID', 2, /expected NONE or CMD/],
    ['HEALTHCHECK CMD without a command', 'FROM debian\nHEALTHCHECK CMD\n', 'DOCKERFILE_INVALID', 2, /needs a command/],
    ['RUN with an empty exec form', 'FROM debian\nRUN []\n', 'DOCKERFILE_INVALID', 2, /RUN needs a command/],
    ['ONBUILD ONBUILD', 'FROM debian\nONBUILD ONBUILD RUN x\n', 'DOCKERFILE_INVALID', 2, /ONBUILD ONBUILD is not allowed/],
    ['ONBUILD FROM', 'FROM debian\nONBUILD FROM debian\n', 'DOCKERFILE_INVALID', 2, /FROM is not allowed as an ONBUILD trigger/],
    ['ONBUILD of an unknown instruction', 'FROM debian\nONBUILD RUNN x\n', 'DOCKERFILE_UNKNOWN_INSTRUCTION', 2, /RUNN/],
    ['an invalid escape directive', '# escape=x\nFROM debian\n', 'DOCKERFILE_INVALID', 1, /escape directive must be/],
    ['a repeated directive', '# escape=`\n# escape=\\\nFROM debian\n', 'DOCKERFILE_INVALID', 2, /given twice/],
    ['an unterminated quote in a substituted word', 'ARG A="x\nFROM debian\n', 'DOCKERFILE_INVALID', 1, /unterminated double quote/],
    ['RUN --device', 'FROM debian\nRUN --device=nvidia.com/gpu=all nvidia-smi\n', 'DOCKERFILE_UNSUPPORTED', 2, /RUN --device/],
    ['an unterminated here-document', 'FROM debian\nRUN <<EOF\necho hi\n', 'DOCKERFILE_INVALID', 2, /<<EOF has no closing line/],
  ])('rejects %s', (_name, text, code, line, message) => {
    const error = parseError(text);
    expect(error.code).toBe(code);
    expect(error.line).toBe(line);
    expect(error.message).toMatch(message);
  });

  it('gives the column of an unknown instruction', () => {
    expect(parseError('FROM debian\n   BOGUS x\n')).toMatchObject({ line: 2, column: 4 });
  });

  it('puts the line and column into the message', () => {
    expect(parseError('FROM debian\n\n  COPY x\n').message).toMatch(/^Dockerfile line 3, column 3: /);
  });
});

describe('parseDockerfile syntax directive', () => {
  it.each([
    'docker/dockerfile:1',
    'docker/dockerfile:1.7',
    'docker/dockerfile:1.7.1-labs',
    'docker.io/docker/dockerfile:1',
    'docker/dockerfile-upstream:master',
    `docker/dockerfile:1@sha256:${'b'.repeat(64)}`,
    'docker/dockerfile',
  ])('accepts %s', (syntax) => {
    expect(parseDockerfile(`# syntax=${syntax}\nFROM debian\n`).syntax).toBe(syntax);
  });

  it.each(['tonistiigi/dockerfile:runmount', 'docker/dockerfile:0.9', 'ghcr.io/example/frontend:1', 'earthly/dockerfile:1'])('rejects the frontend %s', (syntax) => {
    const error = parseError(`# syntax=${syntax}\nFROM debian\n`);
    expect(error).toMatchObject({ code: 'DOCKERFILE_SYNTAX_UNSUPPORTED', line: 1 });
    expect(error.message).toContain(syntax);
  });

  it('names the line of the syntax directive', () => {
    expect(parseError('# escape=`\n# syntax=example/frontend:2\nFROM debian\n')).toMatchObject({ code: 'DOCKERFILE_SYNTAX_UNSUPPORTED', line: 2, column: 1 });
  });

  it('accepts the check directive', () => {
    expect(parseDockerfile('# check=skip=JSONArgsRecommended;error=true\nFROM debian\nCMD echo hi\n').stages).toHaveLength(1);
  });
});

describe('parseDockerfile RUN and COPY flags', () => {
  it('adds the stages that RUN --mount=from= names to the dependencies', () => {
    const plan = parseDockerfile('FROM debian AS deps\nFROM debian AS tools\nFROM debian\nRUN --mount=from=deps,target=/deps --mount=type=cache,from=tools,target=/c make\n');
    expect(plan.stages[2]!.dependsOn).toEqual([0, 1]);
    expect(plan.neededStages).toEqual([0, 1, 2]);
  });

  it('resolves RUN --mount=from= to an image', () => {
    const [run] = instructionsOf('RUN --mount=from=busybox:1.36,source=/bin,target=/tools ls /tools');
    expect(run).toMatchObject({ mounts: [{ type: 'bind', from: { kind: 'image', reference: 'busybox:1.36' } }] });
  });

  it.each([
    ['--network=host', 'RUN --network=host curl', 'DOCKERFILE_UNSUPPORTED', /--network=host is not allowed/],
    ['an unknown network', 'RUN --network=bridge curl', 'DOCKERFILE_INVALID', /--network=bridge is not a network mode/],
    ['--security=insecure', 'RUN --security=insecure mount', 'DOCKERFILE_UNSUPPORTED', /--security=insecure is not allowed/],
    ['a mount of an unknown type', 'RUN --mount=type=volume,target=/x true', 'DOCKERFILE_INVALID', /type "volume"/],
    ['--parents on ADD', 'ADD --parents a /b/', 'DOCKERFILE_INVALID', /unknown flag --parents/],
    ['a here-document as destination', 'COPY a <<EOF\nx\nEOF', 'DOCKERFILE_INVALID', /here-document as its destination/],
  ])('rejects %s', (_name, line, code, message) => {
    const error = parseError(`FROM debian\n${line}\n`);
    expect(error).toMatchObject({ code, line: 2, column: 1 });
    expect(error.message).toMatch(message);
  });

  it('accepts --security=sandbox', () => {
    expect(instructionsOf('RUN --security=sandbox true')).toHaveLength(1);
  });
});
