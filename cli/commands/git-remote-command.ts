import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ApiClient } from '../api-client.ts';
import { DEFAULT_REMOTE } from '../app-option.ts';
import { configFolder } from '../cli-config.ts';
import { CliError, ExitCode } from '../cli-error.ts';
import { parseCommandArgs, type Command } from '../command.ts';
import { gitOutput, gitWithInput } from '../git-commands.ts';

const options = { app: { type: 'string', short: 'a' }, remote: { type: 'string', short: 'r' } } as const;

/** The user name git sends; the API ignores it and checks the token in the password. */
const GIT_USER = 'slipway';

export const gitRemoteCommand: Command = {
  summary: 'Add the "slipway" git remote of an app, with credentials in git\'s credential helper',
  options,
  usage: [
    'Usage: slipway git-remote [NAME | --app NAME] [--remote REMOTE]',
    '',
    'In the git repository of the current folder, adds (or updates) the remote "slipway"',
    'pointing at the app\'s repository, http://<api>/git/NAME.git, and stores the API token',
    "for it with git's credential helper. When no helper is set up for that address, it sets",
    'the "store" helper for it in this repository, with the file',
    '$XDG_CONFIG_HOME/slipway/git-credentials (mode 0600). Then:',
    '',
    '  git push slipway main        builds and releases main',
    '  git push slipway feature-x   deploys the preview app NAME-feature-x',
    '  git push slipway :feature-x  deletes that preview app',
    '',
    'Options:',
    '  -a, --app NAME        The app (default: SLIPWAY_APP)',
    '  -r, --remote REMOTE   The remote to add (default: slipway)',
  ].join('\n'),

  async run(args) {
    const { values, positionals } = parseCommandArgs(args, options);
    if (positionals.length > 1) throw new CliError(`give one app, not ${positionals.length}.`, ExitCode.usage);
    const app = values.app ?? positionals[0] ?? process.env.SLIPWAY_APP;
    if (!app) throw new CliError('give the app, for example: slipway git-remote hello', ExitCode.usage);
    const remote = values.remote ?? DEFAULT_REMOTE;
    const cwd = process.cwd();
    if ((await gitOutput(cwd, ['rev-parse', '--is-inside-work-tree'])) !== 'true') {
      throw new CliError(`${cwd} is not in a git repository: run "git init" first, or run this in your project's repository.`, ExitCode.usage);
    }

    const client = await ApiClient.fromEnvironment();
    await client.request('GET', `/v1/apps/${encodeURIComponent(app)}`);
    const url = `${client.baseUrl}/git/${app}.git`;

    const existing = await gitOutput(cwd, ['remote', 'get-url', remote]);
    if (existing === null) await runGit(cwd, ['remote', 'add', remote, url]);
    else if (existing !== url) await runGit(cwd, ['remote', 'set-url', remote, url]);
    const helper = await storeCredentials(cwd, client, url);

    let change = 'Updated';
    if (existing === null) change = 'Added';
    else if (existing === url) change = 'Kept';
    process.stdout.write(`${change} git remote ${remote}: ${url}\n`);
    process.stdout.write(`The API token is stored for ${client.baseUrl} by git's credential helper "${helper}".\n`);
    process.stdout.write(`Deploy with: git push ${remote} main\n`);
    return ExitCode.ok;
  },
};

/**
 * Hands the token to git's credential helper for the API's address. When no helper
 * applies to it, this repository gets the store helper with Slipway's own file, so the
 * token does not land in ~/.git-credentials beside other sites' passwords.
 */
async function storeCredentials(cwd: string, client: ApiClient, url: string): Promise<string> {
  // git's store helper creates its file but not the folder; this one may be set from an earlier run.
  await mkdir(configFolder(), { recursive: true, mode: 0o700 });
  let helper = await gitOutput(cwd, ['config', '--get-urlmatch', 'credential.helper', url]);
  if (!helper) {
    helper = `store --file=${path.join(configFolder(), 'git-credentials')}`;
    await runGit(cwd, ['config', '--local', `credential.${client.baseUrl}.helper`, helper]);
  }

  const address = new URL(client.baseUrl);
  const target = `protocol=${address.protocol.replace(/:$/, '')}\nhost=${address.host}\n`;
  await gitWithInput(cwd, ['credential', 'approve'], `${target}username=${GIT_USER}\npassword=${client.token}\n\n`);

  // `git credential approve` succeeds even when a helper failed to store, so ask for the credential back.
  const stored = await gitWithInput(cwd, ['credential', 'fill'], `${target}username=${GIT_USER}\n\n`, { GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '', SSH_ASKPASS: '' }).catch(() => '');
  if (!stored.includes(`password=${client.token}\n`)) {
    throw new CliError(`git's credential helper "${helper}" did not store the token: git will ask for it on push (any user name, the token as password), or set up a helper (git config credential.helper store) and run this again.`);
  }
  return helper;
}

async function runGit(cwd: string, args: string[]): Promise<void> {
  if ((await gitOutput(cwd, args)) === null) throw new CliError(`git ${args.join(' ')} failed in ${cwd}.`);
}
