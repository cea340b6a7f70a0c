import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { releaseLabel, type AppRow } from '../../shared/apps/app-records.ts';
import { appUrl } from '../../shared/config.ts';
import { apps, releases } from '../../shared/db/schema.ts';
import { ContextError } from '../../shared/build-context/context-errors.ts';
import { errorMessage, isSlipwayError, NotFoundError, ValidationError } from '../../shared/errors.ts';
import type { ApiDeps } from '../api-deps.ts';
import { createDeploy } from '../deploys/create-deploy.ts';
import { followDeploy, RELEASE_WAIT_MS, type DeployOutcome } from '../deploys/follow-deploy.ts';
import { deleteApp } from '../routes/app-routes.ts';
import { archiveCommit } from './commit-archive.ts';
import { runGit } from './git-process.ts';
import type { GitSettings } from './git-settings.ts';
import type { HookOutput, RefUpdate } from './hook-channel.ts';
import { ensurePreviewApp, findPreviewApp } from './preview-apps.ts';
import { PushLock, type PushLockHolder } from './push-lock.ts';
import { planRefUpdate, type RefPlan } from './ref-plan.ts';

/** Prefixes of the lines Slipway adds to a push's output, as Heroku marks its own lines. */
const STEP = '----->';
const PROBLEM = '!     ';

export interface PushRepository {
  /** The app whose repository receives the push. */
  app: AppRow;
  path: string;
  /** The home folder of server-side git processes. */
  gitHome: string;
}

/**
 * The server side of one `git push`: receives each ref update from the update hook, and
 * builds and releases branches. The ref moves only when its hook returns 0, that is when
 * its deploy succeeded.
 *
 * Each target takes a push lock first (see PushLock): the production branches share one,
 * since they deploy the same app, and each other branch has its own. A second push to a
 * target waits for the first. When the first moved the ref meanwhile, the second is
 * rejected as git rejects a push that is not based on the ref's current value, because
 * receive-pack would refuse its ref update anyway, after the release.
 *
 * NOTE: with `git push --atomic`, receive-pack runs the hooks of all refs before it moves
 * any, so a failure of a later ref rejects an earlier ref whose deploy was released.
 */
export class PushSession {
  readonly pushId = randomUUID();
  private readonly locks = new Map<string, Promise<PushLock>>();
  private readonly tasks = new Set<Promise<number>>();

  constructor(
    private readonly deps: ApiDeps,
    private readonly repository: PushRepository,
    private readonly settings: GitSettings,
  ) {}

  /** The hook handler; git calls it for one ref at a time. */
  readonly handleRefUpdate = (update: RefUpdate, output: HookOutput): Promise<number> => {
    const task = this.process(update, output);
    this.tasks.add(task);
    void task.finally(() => this.tasks.delete(task)).catch(() => undefined);
    return task;
  };

  /** Waits for every deploy this push started, then frees its locks. Call once receive-pack has exited. */
  async finish(): Promise<void> {
    await Promise.allSettled([...this.tasks]);
    for (const pending of this.locks.values()) {
      const lock = await pending.catch(() => null);
      await lock?.release();
    }
  }

  private async process(update: RefUpdate, output: HookOutput): Promise<number> {
    const plan = planRefUpdate(update, this.settings.productionBranches, this.repository.app.parentAppId !== null);
    if (plan.kind === 'reject') {
      output.line(`${PROBLEM}${plan.message}`);
      return 1;
    }
    if (plan.kind === 'store') {
      output.line(plan.message);
      return 0;
    }

    try {
      const scope = plan.kind === 'deploy' && !plan.preview ? 'production' : `branch:${plan.branch}`;
      await this.takeLock(scope, output, plan.kind === 'deploy' ? `${plan.branch} at ${plan.commit.slice(0, 7)}` : `the deletion of ${plan.branch}`);
      if (!(await this.refUnchanged(update, output))) return 1;
      return plan.kind === 'deploy' ? await this.deploy(plan, update.ref, output) : await this.deletePreview(plan.branch, output);
    } catch (error) {
      const fields = { app: this.repository.app.name, pushId: this.pushId, ref: update.ref };
      if (isSlipwayError(error) && error.kind === 'user') this.deps.log.info({ ...fields, code: error.code }, 'git ref rejected');
      else this.deps.log.error({ ...fields, err: error }, 'git push failed');
      output.line(`${PROBLEM}${errorMessage(error)}`);
      output.line(`${PROBLEM}Push of ${update.ref} rejected.`);
      return 1;
    }
  }

  /** Takes the lock of a scope once per push; refs of the push that share the scope share the lock, or its failure. */
  private async takeLock(scope: string, output: HookOutput, description: string): Promise<void> {
    let lock = this.locks.get(scope);
    if (!lock) {
      const holder: PushLockHolder = { pushId: this.pushId, description, since: Date.now() };
      lock = PushLock.acquire(this.deps.redis, `${this.repository.app.id}:${scope}`, holder, {
        waitMs: this.settings.pushWaitMs,
        onWait: (current) => {
          const holderText = current ? `the push of ${current.description}, started ${Math.round((Date.now() - current.since) / 1000)} s ago,` : 'another push';
          output.line(`${STEP} Waiting for ${holderText} to finish (at most ${Math.round(this.settings.pushWaitMs / 1000)} s)...`);
        },
      });
      this.locks.set(scope, lock);
    }
    await lock;
  }

  /** Checks that the ref still has the value this push was based on, which receive-pack checks again when it updates the ref. */
  private async refUnchanged(update: RefUpdate, output: HookOutput): Promise<boolean> {
    const current = (await runGit(this.repository.gitHome, ['--git-dir', this.repository.path, 'for-each-ref', '--format=%(objectname)', update.ref])).trim();
    // git writes an all-zero object name for a ref that did not exist.
    if (current === update.old || (current === '' && /^0+$/.test(update.old))) return true;

    output.line(`${PROBLEM}${update.ref} moved to ${current ? current.slice(0, 7) : 'nothing (deleted)'} while this push waited for another push.`);
    output.line(`${PROBLEM}Push of ${update.ref} rejected: fetch, merge or rebase, and push again.`);
    return false;
  }

  private async deploy(plan: Extract<RefPlan, { kind: 'deploy' }>, ref: string, output: HookOutput): Promise<number> {
    const { deps } = this;
    const app = await this.targetApp(plan, output);
    output.line(`${STEP} Building ${app.name} from ${plan.branch} (${plan.commit.slice(0, 7)})`);

    const context = await archiveCommit(this.repository.gitHome, this.repository.path, plan.commit, path.join(deps.config.dataDir, 'tmp'), deps.config.maxContextBytes);
    let deployId: string;
    try {
      const created = await createDeploy(deps, app, context, 'Dockerfile', { buildArgs: {}, noCache: false }, { commit: plan.commit, ref });
      deployId = created.id;
    } catch (error) {
      // The upload's message suggests --dockerfile, which a push cannot give.
      if (error instanceof ContextError && error.code === 'DOCKERFILE_NOT_FOUND') {
        throw new ValidationError('DOCKERFILE_NOT_FOUND', `Commit ${plan.commit.slice(0, 7)} has no Dockerfile at its root: add one, commit it and push again.`, { cause: error });
      }
      throw error;
    } finally {
      await context.remove();
    }

    const outcome = await followDeploy(deps, deployId, {
      onBuildOutput: (text) => output.write(text),
      onReleasing: (release) => output.line(`${STEP} Starting ${release ?? 'the release'} and waiting for it to accept connections...`),
    });
    return this.report(app, outcome, output);
  }

  private async targetApp(plan: Extract<RefPlan, { kind: 'deploy' }>, output: HookOutput): Promise<AppRow> {
    const { db, config } = this.deps;
    const [parent] = await db.select().from(apps).where(eq(apps.id, this.repository.app.id));
    if (!parent) throw new NotFoundError('APP_NOT_FOUND', `App ${this.repository.app.name} was deleted during the push.`);
    if (!plan.preview) return parent;

    const { app, created } = await ensurePreviewApp(db, parent, plan.branch);
    if (created) {
      this.deps.log.info({ app: app.name, appId: app.id, parent: parent.name, branch: plan.branch }, 'preview app created');
      output.line(`${STEP} Created preview app ${app.name} for branch ${plan.branch}: ${appUrl(config, app.name)}`);
    }
    return app;
  }

  private async report(app: AppRow, outcome: DeployOutcome, output: HookOutput): Promise<number> {
    if (outcome.status === 'succeeded') {
      output.line(`${STEP} Released ${outcome.release} of ${app.name}: ${appUrl(this.deps.config, app.name)}`);
      return 0;
    }

    let reason: string;
    if (outcome.buildError) {
      // The build output above ends with the error, its Dockerfile line and exit code.
      reason = 'the build failed';
    } else if (outcome.status === 'timed-out') {
      reason = `${outcome.release ?? 'the release'} did not finish starting within ${RELEASE_WAIT_MS / 60_000} minutes (see "slipway status --app ${app.name}")`;
    } else {
      reason = `${outcome.release ?? 'the release'} failed: ${(outcome.error?.message ?? 'no reason recorded').replace(/\.$/, '')}`;
    }
    output.line(`${PROBLEM}Push rejected, ${reason}. ${await this.servingNow(app)}`);
    return 1;
  }

  private async servingNow(app: AppRow): Promise<string> {
    const [row] = await this.deps.db
      .select({ version: releases.version })
      .from(apps)
      .innerJoin(releases, eq(releases.id, apps.currentReleaseId))
      .where(eq(apps.id, app.id));
    return row ? `${app.name} keeps serving ${releaseLabel(row.version)}.` : `${app.name} has no release yet.`;
  }

  private async deletePreview(branch: string, output: HookOutput): Promise<number> {
    const preview = await findPreviewApp(this.deps.db, this.repository.app, branch);
    if (!preview) {
      output.line(`Branch ${branch} deleted; it had no preview app.`);
      return 0;
    }
    await deleteApp(this.deps, preview);
    output.line(`${STEP} Deleted preview app ${preview.name} of branch ${branch}.`);
    return 0;
  }
}
