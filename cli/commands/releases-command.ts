import { ApiClient } from '../api-client.ts';
import { APP_OPTION, resolveApp } from '../app-option.ts';
import { CliError, ExitCode } from '../cli-error.ts';
import { JSON_OPTION, parseCommandArgs, type Command } from '../command.ts';
import { formatAgo, printTable, shortDigest } from '../output.ts';

export interface ReleaseSummary {
  version: string;
  status: string;
  current: boolean;
  source?: string;
  imageDigest: string;
  gitCommit?: string | null;
  gitRef?: string | null;
  error: { message: string } | null;
  createdAt: string;
}

const options = { ...APP_OPTION, ...JSON_OPTION } as const;

export const releasesCommand: Command = {
  summary: "List an app's releases, newest first",
  options,
  usage: [
    'Usage: slipway releases [--app NAME] [--json]',
    '',
    'Lists releases v1, v2, ... with their status (the current one is marked *), what made',
    'them (a build, a git push with its commit, an image, a rollback), image and age.',
    'Roll back to one with "slipway rollback vN".',
    '',
    'Options:',
    '  -a, --app NAME   The app (default: SLIPWAY_APP, or the app of the "slipway" git remote)',
    '  --json           Print the API response as JSON',
  ].join('\n'),

  async run(args) {
    const { values, positionals } = parseCommandArgs(args, options);
    if (positionals.length > 1) throw new CliError(`give one app, not ${positionals.length}.`, ExitCode.usage);
    const app = await resolveApp(values.app ?? positionals[0]);
    const client = await ApiClient.fromEnvironment();
    const { releases } = await client.json<{ releases: ReleaseSummary[] }>('GET', `/v1/apps/${encodeURIComponent(app)}/releases`);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(releases)}\n`);
      return ExitCode.ok;
    }
    if (releases.length === 0) {
      process.stdout.write(`App ${app} has no releases yet: deploy it with "slipway deploy" or "git push".\n`);
      return ExitCode.ok;
    }
    printTable(
      ['VERSION', 'STATUS', 'SOURCE', 'IMAGE', 'CREATED'],
      releases.map((release) => [`${release.current ? '*' : ' '}${release.version}`, release.status, describeSource(release), shortDigest(release.imageDigest), formatAgo(release.createdAt)]),
    );
    return ExitCode.ok;
  },
};

function describeSource(release: ReleaseSummary): string {
  if (release.gitCommit) return `git ${release.gitRef?.replace(/^refs\/heads\//, '') ?? ''} ${release.gitCommit.slice(0, 7)}`.replace('  ', ' ');
  return release.source ?? 'build';
}
