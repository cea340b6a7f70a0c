import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../../shared/config.ts';
import { freePort } from '../../support/free-port.ts';
import { runSlipway } from './support/cli-runner.ts';

const execFileAsync = promisify(execFile);

/** Every command the CLI lists in its help. */
const COMMANDS = ['login', 'logout', 'apps', 'deploy', 'status', 'logs', 'releases', 'rollback', 'scale', 'env', 'volumes', 'ports', 'git-remote', 'open', 'completion', 'server', 'teardown', 'base-images'];

let home: string;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  home = await mkdtemp(path.join(tmpdir(), 'slipway-cli-usage-'));
  // A server that is not there: nothing listens on this port once freePort has closed it.
  env = { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), SLIPWAY_API_URL: `http://127.0.0.1:${await freePort()}`, SLIPWAY_TOKEN: 'swt_unused' };
});

afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('help', () => {
  it('lists every command', async () => {
    const result = await runSlipway(['--help'], { env });
    expect(result.code).toBe(0);
    const listed = [...result.stdout.matchAll(/^ {2}(\S+) {2,}/gm)].map((match) => match[1]);
    expect(listed).toEqual(COMMANDS);
    expect(result.stdout).toContain('Exit codes: 0 success, 1 failure, 2 wrong usage, 3 server unreachable or token rejected, 4 not found.');
  });

  it.each(COMMANDS)('prints the usage of %s with --help', async (command) => {
    const result = await runSlipway([command, '--help'], { env });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage:/);
    expect(result.stderr).toBe('');
  });

  it('prints the version', async () => {
    const result = await runSlipway(['--version'], { env });
    expect(result.stdout).toMatch(/^slipway \d+\.\d+\.\d+\n$/);
  });
});

describe('exit codes', () => {
  it.each([
    ['an unknown command', ['launch'], 'unknown command "launch"'],
    ['an unknown option', ['apps', 'list', '--colour'], "Unknown option '--colour'"],
    ['a missing app', ['logs'], 'no app given: add --app NAME'],
    ['a missing value', ['env', 'set', '--app', 'x'], 'give at least one NAME=VALUE'],
    ['an invalid port', ['ports', 'add', '70000', '--app', 'x'], 'use numbers from 1 to 65535'],
    ['an invalid duration', ['scale', '--idle-timeout', 'soon', '--app', 'x'], 'give seconds (300) or a duration'],
    ['a release that is not one', ['rollback', 'latest', '--app', 'x'], 'is not a release'],
  ])('exits 2 for %s', async (_case, args, message) => {
    const result = await runSlipway(args, { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('exits 2 and prints the usage without a command', async () => {
    const result = await runSlipway([], { env });
    expect(result.code).toBe(2);
    expect(result.stdout).toContain('Usage: slipway <command>');
  });

  it('exits 3 for an unreachable server', async () => {
    const result = await runSlipway(['apps', 'list'], { env });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`Cannot reach the Slipway API at ${env.SLIPWAY_API_URL}`);
    expect(result.stderr).toContain('slipway login');
  });
});

describe('shell completion', () => {
  async function completeInBash(words: string[]): Promise<string[]> {
    const script = (await runSlipway(['completion', 'bash'], { env })).stdout;
    const line = ['slipway', ...words].map((word) => `'${word}'`).join(' ');
    const { stdout } = await execFileAsync('bash', ['-c', `${script}\nCOMP_WORDS=(${line}); COMP_CWORD=${words.length}; _slipway; printf '%s\\n' "\${COMPREPLY[@]}"`], {
      env: { PATH: `${PROJECT_ROOT}/node_modules/.bin:${process.env.PATH}`, HOME: home },
    });
    return stdout.split('\n').filter(Boolean);
  }

  it.each([
    [['ap'], ['apps']],
    [['env', ''], ['list', 'set', 'unset']],
    [['deploy', '--b'], ['--build-arg']],
    [['logs', '--s'], ['--since']],
  ])('completes %j in bash', async (words, expected) => {
    expect(await completeInBash(words)).toEqual(expected);
  });

  it.each(['zsh', 'fish'])('prints a %s script that names every command', async (shell) => {
    const result = await runSlipway(['completion', shell], { env });
    expect(result.code).toBe(0);
    for (const command of COMMANDS) expect(result.stdout).toContain(command);
  });

  it('exits 2 for a shell it does not know', async () => {
    const result = await runSlipway(['completion', 'tcsh'], { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('completion for "tcsh" is not available: use bash, zsh, fish.');
  });
});
