import { parseArgs } from 'node:util';
import { bootstrapAdminToken, adminTokenPath } from '../../api/auth/api-tokens.ts';
import { startApi } from '../../api/start-api.ts';
import { loadConfig } from '../../shared/config.ts';
import { createLogger } from '../../shared/logger.ts';
import { openServices } from '../../shared/services.ts';
import { startRunner } from '../../runner/start-runner.ts';
import { startWorkers } from '../../workers/start-workers.ts';
import { CliError, ExitCode } from '../cli-error.ts';
import type { Command } from '../main.ts';

const log = createLogger('server');

/** How long a graceful shutdown may take before the process exits anyway, in ms. */
const SHUTDOWN_DEADLINE_MS = 60_000;

export const serverCommand: Command = {
  summary: 'Run the Slipway service: API, build worker and runner',
  options: {},
  usage: [
    'Usage: slipway server',
    '',
    'Runs the roles named by SLIPWAY_ROLES (default: api,worker,runner) in this process.',
    'With no other settings it keeps everything in SLIPWAY_DATA_DIR (default: .data in the',
    'checkout): PGlite, blob files and a redis-server child process. See the README for the',
    'environment variables that select Postgres, Redis and S3 instead.',
  ].join('\n'),

  async run(args) {
    parseArgs({ args, options: {} });
    const config = loadConfig();
    if (config.roles.has('runner') && process.getuid?.() !== 0) {
      throw new CliError('the runner role needs root (it mounts overlay file systems and starts runc containers): run it as root, or set SLIPWAY_ROLES=api,worker.', ExitCode.usage);
    }

    const services = await openServices(config);
    const stops: (() => Promise<void>)[] = [];
    try {
      const token = await bootstrapAdminToken(services.database.db, config.dataDir);
      if (token) {
        process.stdout.write(`Created the admin API token (also in ${adminTokenPath(config.dataDir)}, mode 0600):\n  ${token}\n`);
      }
      if (config.roles.has('runner')) stops.push((await startRunner(services)).close);
      if (config.roles.has('worker')) stops.push((await startWorkers(services)).close);
      if (config.roles.has('api')) {
        const api = await startApi(services);
        stops.push(api.close);
        process.stdout.write(`Slipway API on http://${config.bindAddress}:${api.port}, apps on http://<app>.${config.domain}:${config.httpPort}\n`);
      }
    } catch (error) {
      await stopAll(stops);
      await services.close();
      throw error;
    }

    await waitForSignal();
    log.info('shutting down');
    // A second signal, or a stop that hangs past the deadline, ends the process at once.
    const forceExit = () => {
      log.error('shutdown did not finish; exiting now');
      process.exit(1);
    };
    process.once('SIGINT', forceExit);
    process.once('SIGTERM', forceExit);
    setTimeout(forceExit, SHUTDOWN_DEADLINE_MS).unref();

    await stopAll(stops);
    await services.close();
    return ExitCode.ok;
  },
};

async function stopAll(stops: (() => Promise<void>)[]): Promise<void> {
  for (const stop of stops.reverse()) {
    await stop().catch((error) => log.error({ err: error }, 'stopping a role failed'));
  }
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'signal received');
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
