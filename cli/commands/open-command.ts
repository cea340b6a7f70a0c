import { spawn } from 'node:child_process';
import { ApiClient } from '../api-client.ts';
import { APP_OPTION, resolveApp } from '../app-option.ts';
import { CliError, ExitCode } from '../cli-error.ts';
import { parseCommandArgs, type Command } from '../command.ts';

const options = { ...APP_OPTION } as const;

export const openCommand: Command = {
  summary: "Open an app's URL in the web browser",
  options,
  usage: [
    'Usage: slipway open [--app NAME] [PATH]',
    '',
    'Opens http://<app>.<domain>/PATH with $BROWSER, else the system opener (xdg-open on',
    'Linux, open on macOS, start on Windows). Where none works it prints the URL.',
    '',
    'Options:',
    '  -a, --app NAME   The app (default: SLIPWAY_APP, or the app of the "slipway" git remote)',
  ].join('\n'),

  async run(args) {
    const { values, positionals } = parseCommandArgs(args, options);
    if (positionals.length > 1) throw new CliError(`give at most one path, not ${positionals.length}.`, ExitCode.usage);
    const app = await resolveApp(values.app);
    const client = await ApiClient.fromEnvironment();
    const { url } = await client.json<{ url: string }>('GET', `/v1/apps/${encodeURIComponent(app)}`);
    const target = new URL(positionals[0]?.replace(/^\/+/, '') ?? '', url).toString();

    process.stdout.write(`Opening ${target}\n`);
    if (!(await openInBrowser(target))) process.stdout.write(`No browser could be started; open the URL yourself.\n`);
    return ExitCode.ok;
  },
};

/** Starts the browser without waiting for it; returns false when no opener could start. */
function openInBrowser(url: string): Promise<boolean> {
  const [command, ...args] = opener();
  return new Promise((resolve) => {
    const child = spawn(command!, [...args, url], { stdio: 'ignore', detached: true });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}

function opener(): string[] {
  const browser = process.env.BROWSER?.trim();
  if (browser) return browser.split(/\s+/);
  if (process.platform === 'darwin') return ['open'];
  if (process.platform === 'win32') return ['cmd', '/c', 'start', '""'];
  return ['xdg-open'];
}
