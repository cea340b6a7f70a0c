import { ApiClient } from '../api-client.ts';
import { APP_OPTION, resolveApp } from '../app-option.ts';
import { ApiError, CliError, ExitCode } from '../cli-error.ts';
import { JSON_OPTION, parseCommandArgs, type Command } from '../command.ts';
import { reportDeploy, waitForDeploy } from '../deploy-progress.ts';
import { createOutput, writeJson, writeLine } from '../terminal/terminal.ts';
import type { ReleaseSummary } from './releases-command.ts';

const options = { ...APP_OPTION, ...JSON_OPTION, detach: { type: 'boolean', short: 'd' } } as const;

export const rollbackCommand: Command = {
  summary: 'Release an earlier release again (its image and environment)',
  options,
  usage: [
    'Usage: slipway rollback [vN] [--app NAME] [--detach]',
    '',
    'Makes a new release with the image and environment of release vN, and waits until it',
    'accepts connections. Without vN it rolls back to the release before the current one.',
    'List releases with "slipway releases".',
    '',
    'Options:',
    '  -a, --app NAME   The app (default: SLIPWAY_APP, or the app of the "slipway" git remote)',
    '  -d, --detach     Return once the rollback is accepted',
    '  --json           Print the final deploy as JSON',
  ].join('\n'),

  async run(args) {
    const { values, positionals } = parseCommandArgs(args, options);
    if (positionals.length > 1) throw new CliError(`give one release, not ${positionals.length}.`, ExitCode.usage);
    if (positionals[0] !== undefined && !/^v?\d+$/i.test(positionals[0])) {
      throw new CliError(`${JSON.stringify(positionals[0])} is not a release: give one such as v3 (see "slipway releases").`, ExitCode.usage);
    }

    const app = await resolveApp(values.app);
    const output = createOutput({ json: values.json });
    const client = await ApiClient.fromEnvironment();
    const target = positionals[0] ? `v${positionals[0].replace(/^v/i, '')}` : await previousRelease(client, app);

    let accepted: { release: { version: string }; deploy: { id: string } };
    try {
      accepted = await client.json('POST', `/v1/apps/${encodeURIComponent(app)}/rollback`, { release: target });
    } catch (error) {
      if (error instanceof ApiError && error.code === 'ROUTE_NOT_FOUND') {
        throw new CliError(`the server at ${client.baseUrl} has no rollback API (POST /v1/apps/:app/rollback): update it.`);
      }
      if (error instanceof ApiError && error.code === 'RELEASE_NOT_FOUND') {
        throw new CliError(`${app} has no release ${target}: list them with "slipway releases --app ${app}".`, ExitCode.notFound);
      }
      throw error;
    }
    if (output.json) writeJson(output, { type: 'deploy-created', id: accepted.deploy.id, release: accepted.release.version, rolledBackTo: target });
    else writeLine(output, `Rolling back ${app} to ${target} as ${accepted.release.version} (deploy ${accepted.deploy.id})`);
    if (values.detach) return ExitCode.ok;

    reportDeploy(await waitForDeploy(client, accepted.deploy.id, output), output, `a rollback to ${target}`);
    return ExitCode.ok;
  },
};

/** Finds the newest release before the current one that served traffic. */
async function previousRelease(client: ApiClient, app: string): Promise<string> {
  const { releases } = await client.json<{ releases: ReleaseSummary[] }>('GET', `/v1/apps/${encodeURIComponent(app)}/releases`);
  const current = releases.findIndex((release) => release.current);
  const candidate = releases.slice(current + 1).find((release) => release.status === 'superseded' || release.status === 'active');
  if (current === -1 || !candidate) {
    throw new CliError(`app ${app} has no earlier release that served traffic to roll back to (see "slipway releases --app ${app}").`);
  }
  return candidate.version;
}
