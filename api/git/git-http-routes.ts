import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AppNotFoundError, findAppByName, type AppRow } from '../../shared/apps/app-records.ts';
import { isSlipwayError, NotFoundError, ValidationError } from '../../shared/errors.ts';
import type { ApiDeps, ApiEnv } from '../api-deps.ts';
import { UnauthorizedError } from '../middleware/require-token.ts';
import { authenticateGitRequest, mayUseRepository } from './git-auth.ts';
import { ensureHooksFolder } from './git-hooks.ts';
import { gitHomeFolder, spawnGit, waitForExit } from './git-process.ts';
import { ensureRepository, RECEIVE_PACK_CONFIG } from './git-repositories.ts';
import { FLUSH_PACKET, gitProtocolEnvironment, pipeRequestBody, pktLine, responseBody, wantsProtocolV2, type GitService } from './git-service.ts';
import { loadGitSettings, type GitSettings } from './git-settings.ts';
import { openHookChannel } from './hook-channel.ts';
import { PushSession } from './push-session.ts';

/** `<app>.git` or `<app>` as the last part of the repository URL. */
const REPOSITORY_NAME = /^([a-z0-9][a-z0-9-]{0,62})(\.git)?$/;

/**
 * Serves the git smart-HTTP endpoint: each app has a repository at `/git/<app>.git`, which git
 * clients clone, fetch and push with HTTP basic auth (any user, an API token as
 * password). The server runs git's own upload-pack and receive-pack in stateless-rpc
 * mode, as git http-backend does. The dumb HTTP protocol is not served.
 */
export function gitRoutes(deps: ApiDeps, settings: GitSettings = loadGitSettings(deps.config)): Hono<ApiEnv> {
  const routes = new Hono<ApiEnv>();
  // git prints a text/plain error body as `remote:` lines; it would not show JSON.
  routes.onError((error, c) => {
    if (isSlipwayError(error) && error.kind === 'user') return c.text(`${error.message}\n`, error.status as ContentfulStatusCode);
    deps.log.error({ err: error, path: c.req.path }, 'git request failed');
    return c.text('The Slipway git endpoint failed to handle the request; see the server log.\n', 500);
  });

  routes.get('/:repository/info/refs', async (c) => {
    const service = parseService(c.req.query('service'));
    const app = await authorize(deps, c);
    const repository = await ensureRepository(deps.config.dataDir, app.id);
    const home = await gitHomeFolder(deps.config.dataDir);
    const protocol = c.req.header('git-protocol');

    const child = spawnGit(home, [service, '--stateless-rpc', '--http-backend-info-refs', repository], {
      stdio: ['ignore', 'pipe', 'pipe'],
      extraEnv: gitProtocolEnvironment(protocol),
    });
    logFailure(deps, child, `${service} --http-backend-info-refs`, app.name);
    const header = wantsProtocolV2(protocol) ? '' : `${pktLine(`# service=git-${service}\n`)}${FLUSH_PACKET}`;
    return gitResponse(`application/x-git-${service}-advertisement`, header, responseBody(child, 'kill'));
  });

  routes.post('/:repository/git-upload-pack', async (c) => {
    const app = await authorize(deps, c);
    requireContentType(c, 'upload-pack');
    const repository = await ensureRepository(deps.config.dataDir, app.id);
    const home = await gitHomeFolder(deps.config.dataDir);

    const child = spawnGit(home, ['upload-pack', '--stateless-rpc', repository], {
      stdio: ['pipe', 'pipe', 'pipe'],
      extraEnv: gitProtocolEnvironment(c.req.header('git-protocol')),
    });
    logFailure(deps, child, 'upload-pack', app.name);
    pipeRequestBody(c.req.raw, child.stdin!, deps.log);
    return gitResponse('application/x-git-upload-pack-result', '', responseBody(child, 'kill'));
  });

  routes.post('/:repository/git-receive-pack', async (c) => {
    const app = await authorize(deps, c);
    requireContentType(c, 'receive-pack');
    return receivePack(deps, settings, c, app);
  });

  return routes;
}

/**
 * Runs receive-pack for one push with the update hook's channel open. The channel and the
 * push lock are released once receive-pack has exited and the push's deploys have ended,
 * which may be after the client went away.
 */
async function receivePack(deps: ApiDeps, settings: GitSettings, c: Context<ApiEnv>, app: AppRow): Promise<Response> {
  const { dataDir } = deps.config;
  const repository = await ensureRepository(dataDir, app.id);
  const [home, hooks] = await Promise.all([gitHomeFolder(dataDir), ensureHooksFolder(dataDir)]);
  const session = new PushSession(deps, { app, path: repository, gitHome: home }, settings);
  const channel = await openHookChannel(session.handleRefUpdate);
  const log = deps.log.child({ app: app.name, appId: app.id, pushId: session.pushId });

  let child;
  try {
    child = spawnGit(
      home,
      [
        ...configArguments([...RECEIVE_PACK_CONFIG, ['core.hooksPath', hooks], ['receive.maxInputSize', String(settings.maxPushBytes)]]),
        'receive-pack',
        '--stateless-rpc',
        repository,
      ],
      { stdio: ['pipe', 'pipe', 'pipe'], extraEnv: { SLIPWAY_GIT_HOOK_SOCKET: channel.socketPath } },
    );
  } catch (error) {
    await channel.close();
    throw error;
  }
  log.info('git push started');
  const stderr = collectText(child.stderr!);
  void waitForExit(child)
    .then(async (code) => {
      try {
        await session.finish();
      } finally {
        await channel.close();
      }
      if (code === 0) log.info('git push finished');
      else log.warn({ exitCode: code, stderr: stderr() }, 'git receive-pack failed');
    })
    .catch((error: unknown) => log.error({ err: error }, 'git push cleanup failed'));

  pipeRequestBody(c.req.raw, child.stdin!, log);
  return gitResponse('application/x-git-receive-pack-result', '', responseBody(child, 'drain'));
}

/** Checks the request's token and returns the app the repository URL names; another owner's app counts as missing. */
async function authorize(deps: ApiDeps, c: Context<ApiEnv>): Promise<AppRow> {
  const match = REPOSITORY_NAME.exec(c.req.param('repository') ?? '');
  if (!match) {
    throw new NotFoundError('GIT_REPOSITORY_NOT_FOUND', `There is no repository at ${c.req.path}: app repositories are at /git/<app>.git.`);
  }
  const token = await authenticateGitRequest(deps.db, c.req.header('authorization'));
  if (!token) {
    c.header('WWW-Authenticate', 'Basic realm="Slipway", charset="UTF-8"');
    throw new UnauthorizedError('Slipway needs an API token as the password (any user name): run "slipway git-remote" in the repository to store it for git.');
  }

  // Another owner's app is reported as missing, as the API does, so names do not leak.
  const app = await findAppByName(deps.db, match[1]!);
  if (!mayUseRepository(token.owner, app)) throw new AppNotFoundError(app.name);
  return app;
}

function parseService(value: string | undefined): GitService {
  if (value === 'git-upload-pack' || value === 'git-receive-pack') return value.slice(4) as GitService;
  throw new ValidationError(
    'GIT_SERVICE_INVALID',
    'Slipway serves git over the smart HTTP protocol only (git 1.6.6 or later): ask for ?service=git-upload-pack or ?service=git-receive-pack.',
  );
}

function requireContentType(c: Context<ApiEnv>, service: GitService): void {
  const expected = `application/x-git-${service}-request`;
  if (c.req.header('content-type')?.split(';')[0]?.trim() !== expected) {
    throw new ValidationError('GIT_CONTENT_TYPE_INVALID', `A ${service} request must have Content-Type: ${expected}.`);
  }
}

function gitResponse(contentType: string, prefix: string, body: ReadableStream<Uint8Array>): Response {
  const stream = prefix ? prependText(prefix, body) : body;
  return new Response(stream, { status: 200, headers: { 'content-type': contentType, 'cache-control': 'no-cache, max-age=0, must-revalidate' } });
}

function prependText(text: string, body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let sentPrefix = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (!sentPrefix) {
          sentPrefix = true;
          controller.enqueue(new TextEncoder().encode(text));
          return;
        }
        const next = await reader.read();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

function logFailure(deps: ApiDeps, child: ReturnType<typeof spawnGit>, command: string, app: string): void {
  const stderr = collectText(child.stderr!);
  void waitForExit(child).then((code) => {
    if (code !== 0) deps.log.warn({ app, command, exitCode: code, stderr: stderr() }, 'git service failed');
  });
}

function configArguments(settings: [string, string][]): string[] {
  return settings.flatMap(([key, value]) => ['-c', `${key}=${value}`]);
}

/** Keeps the last 4 KiB a stream wrote, for the log. */
function collectText(stream: NodeJS.ReadableStream): () => string {
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-4096);
  });
  return () => text.trim();
}
