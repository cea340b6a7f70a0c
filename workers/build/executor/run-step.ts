import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeBundle } from '../../../shared/container/bundle.ts';
import { ContainerAbortedError, ContainerTimeoutError } from '../../../shared/container/runc-errors.ts';
import { createRuntimeSpec, type BindMount } from '../../../shared/container/runtime-spec.ts';
import type { RuntimeSpec } from '../../../shared/container/runtime-spec-types.ts';
import { resolveUser, type ResolvedUser } from '../../../shared/container/user-resolution.ts';
import type { NetworkSandbox } from '../../../shared/network/network-sandbox.ts';
import { buildCancelled, buildOverDiskLimit, stepFailed, stepOutOfMemory, stepOverPidsLimit, stepTimedOut } from '../build-errors.ts';
import type { StepProgress } from '../build-progress.ts';
import { measureFolderBytes } from '../build-limits.ts';
import { BUILD_CGROUP_PARENT, type BuildSession } from '../build-session.ts';
import { runFileStep } from '../file-step.ts';
import { SCRIPT_FOLDER, type RunStep } from '../frontend/index.ts';
import type { StageState } from '../stage-state.ts';
import { ensureContainerFolder } from './container-folders.ts';
import { watchDiskUse } from './disk-watch.ts';
import { pruneCopiedUpParents, recordMountStubs, removeMountStubs, type MountStubRecord } from './mount-stubs.ts';
import { wasForkRejected, wasKilledForMemory } from './oom-check.ts';
import { BUILD_HOSTNAME, runEnvironment, writeNetworkFiles } from './run-environment.ts';
import { mountInputsChecksum, prepareStepMounts, type PreparedMounts } from './step-mounts.ts';
import { StepOutput } from './step-output.ts';
import type { StepFilesystem } from './step-filesystem.ts';

/** Lines of a failed command's output that its error message quotes. */
const FAILURE_TAIL_LINES = 10;
/** Exit code of a process ended by SIGKILL (128 + 9), which is how the OOM killer ends it. */
const SIGKILL_EXIT_CODE = 137;
/** Exit code of a process ended by SIGXFSZ (128 + 25): it wrote past RLIMIT_FSIZE, the build's remaining disk budget. */
const SIGXFSZ_EXIT_CODE = 153;

/** Runs a RUN step through the build cache; the files its bind mounts take from the context are part of the key. */
export async function executeRunStep(session: BuildSession, state: StageState, step: RunStep, progress: StepProgress): Promise<void> {
  const sourceChecksum = await mountInputsChecksum(session, step);
  await runFileStep(session, state, step, progress, { sourceChecksum, execute: (filesystem) => executeRun(session, step, filesystem, progress.number) });
}

interface ContainerOutcome {
  exitCode: number;
  stubs: MountStubRecord;
  diskExceeded: boolean;
}

/**
 * Runs a RUN step's command with runc over the step's mounted filesystem. The container
 * gets a network sandbox of the build on the bridge (or only loopback with
 * `--network=none`), so it reaches package mirrors through NAT while the bridge firewall
 * keeps the host's services out of reach. It also gets generated resolv.conf, hosts and
 * hostname files mounted read-only, the step's `--mount`s, and the build's memory, pids,
 * time and disk limits. Its output goes to the build output as it arrives. On return the
 * filesystem is unmounted and holds only the command's changes: mount points that runc
 * had to create are removed again. A non-zero exit throws, naming the limit it hit.
 */
export async function executeRun(session: BuildSession, step: RunStep, filesystem: StepFilesystem, stepNumber: number): Promise<void> {
  const user = await resolveUser(filesystem.root, step.user);
  // BuildKit creates a missing working directory, owned by the user the command runs as.
  await ensureContainerFolder(filesystem.root, step.workdir, { uid: user.uid, gid: user.gid });

  const containerId = session.nextContainerId();
  const cgroupsPath = `${BUILD_CGROUP_PARENT}/${containerId}`;
  const mounts = await prepareStepMounts(session, step, filesystem);
  const output = new StepOutput(session, stepNumber, mounts.secretValues);
  let outcome: ContainerOutcome;
  try {
    const sandbox = step.network === 'none' ? undefined : await session.sandboxes.acquire();
    try {
      outcome = await runContainer(session, step, filesystem, { containerId, cgroupsPath, user, sandbox, output, mounts });
    } finally {
      // runc has deleted the container by now, so the next step may use the sandbox.
      if (sandbox) session.sandboxes.release(sandbox);
    }
  } finally {
    await mounts.release();
  }

  if (outcome.exitCode !== 0) throw await describeFailure(session, step, outcome, { cgroupsPath, output, upperDir: filesystem.upperDir });

  await removeMountStubs(filesystem.root, outcome.stubs);
  await filesystem.unmount();
  await pruneCopiedUpParents(filesystem.upperDir, outcome.stubs);
}

/** Names the limit a failed command hit, when it hit one, else reports its exit code and last lines. */
async function describeFailure(
  session: BuildSession,
  step: RunStep,
  outcome: ContainerOutcome,
  context: { cgroupsPath: string; output: StepOutput; upperDir: string },
): Promise<Error> {
  const { config } = session.deps;
  const usedUp = outcome.diskExceeded || outcome.exitCode === SIGXFSZ_EXIT_CODE || session.disk.usedUpBy(await measureFolderBytes(context.upperDir).catch(() => 0));
  if (usedUp) return buildOverDiskLimit(session.buildId, step, session.disk.limitBytes);

  const failure = { buildId: session.buildId, step, exitCode: outcome.exitCode, outputTail: context.output.lines(FAILURE_TAIL_LINES) };
  if (outcome.exitCode === SIGKILL_EXIT_CODE && (await wasKilledForMemory(context.cgroupsPath))) return stepOutOfMemory(failure, config.buildMemoryBytes);
  if (await wasForkRejected(context.cgroupsPath)) return stepOverPidsLimit(failure, config.buildPidsLimit);
  return stepFailed(failure);
}

interface ContainerSetup {
  containerId: string;
  cgroupsPath: string;
  user: ResolvedUser;
  sandbox: NetworkSandbox | undefined;
  output: StepOutput;
  mounts: PreparedMounts;
}

/** Writes the bundle, records the mount points runc will create, and runs the container in the foreground. */
async function runContainer(session: BuildSession, step: RunStep, filesystem: StepFilesystem, setup: ContainerSetup): Promise<ContainerOutcome> {
  const { config, runc } = session.deps;
  const spec = await containerSpec(session, step, filesystem, setup);
  const stubs = await recordMountStubs(filesystem.root, spec.mounts.map((mount) => mount.destination));

  // The bundle holds the environment, so it goes on the secrets' tmpfs when the step has secrets.
  const bundle = await writeBundle(path.join(setup.mounts.bundleParent ?? filesystem.dir, 'bundle'), spec);
  const stop = new AbortController();
  const onBuildAbort = () => stop.abort(session.signal.reason);
  if (session.signal.aborted) onBuildAbort();
  else session.signal.addEventListener('abort', onBuildAbort, { once: true });
  let diskExceeded = false;
  const watcher = watchDiskUse(filesystem.upperDir, session.disk, () => {
    diskExceeded = true;
    stop.abort(new Error('the build is over its disk limit'));
  });

  try {
    const exitCode = await runc.run(setup.containerId, bundle.dir, {
      stdout: setup.output.sink('stdout'),
      stderr: setup.output.sink('stderr'),
      signal: stop.signal,
      timeoutMs: config.buildStepTimeoutMs,
    });
    return { exitCode, stubs, diskExceeded };
  } catch (error) {
    if (error instanceof ContainerTimeoutError) throw stepTimedOut(session.buildId, step, config.buildStepTimeoutMs);
    if (error instanceof ContainerAbortedError && diskExceeded) throw buildOverDiskLimit(session.buildId, step, session.disk.limitBytes);
    if (error instanceof ContainerAbortedError) throw buildCancelled(session.buildId, session.signal.reason);
    throw error;
  } finally {
    await watcher.stop();
    session.signal.removeEventListener('abort', onBuildAbort);
    setup.output.flush();
    await bundle.remove();
  }
}

/**
 * The runtime spec of a RUN container. The step's own mounts come after the default ones,
 * ordered so that a mount inside another mount's target is made after it. RLIMIT_FSIZE is
 * the build's remaining disk budget, so one file cannot outgrow it between two checks of
 * the disk watcher.
 */
async function containerSpec(session: BuildSession, step: RunStep, filesystem: StepFilesystem, setup: ContainerSetup): Promise<RuntimeSpec> {
  const { config } = session.deps;
  const networkFiles = await writeNetworkFiles(path.join(filesystem.dir, 'etc'), setup.sandbox?.ipAddress);
  const binds = [...networkFiles, ...(await writeScripts(step, filesystem.dir)), ...setup.mounts.binds];
  const spec = await createRuntimeSpec({
    rootfs: filesystem.root,
    args: step.args,
    env: [...runEnvironment(step.env, step.proxyEnv), ...setup.mounts.env],
    cwd: step.workdir,
    user: setup.user,
    hostname: BUILD_HOSTNAME,
    networkNamespacePath: setup.sandbox?.netnsPath,
    mounts: binds,
    memoryBytes: config.buildMemoryBytes,
    pidsLimit: config.buildPidsLimit,
    cgroupsPath: setup.cgroupsPath,
  });

  const defaults = spec.mounts.slice(0, spec.mounts.length - binds.length);
  const own = [...spec.mounts.slice(defaults.length), ...setup.mounts.others];
  spec.mounts = [...defaults, ...own.sort((a, b) => depth(a.destination) - depth(b.destination))];
  const fileSizeLimit = Math.max(1, session.disk.remaining());
  spec.process.rlimits.push({ type: 'RLIMIT_FSIZE', hard: fileSizeLimit, soft: fileSizeLimit });
  return spec;
}

function depth(containerPath: string): number {
  return containerPath.split('/').filter(Boolean).length;
}

/** Writes here-document scripts (`RUN <<EOF` with `#!`) and returns their folder as a read-only mount at /dev/pipes. */
async function writeScripts(step: RunStep, stepDir: string): Promise<BindMount[]> {
  if (step.scripts.length === 0) return [];
  const folder = path.join(stepDir, 'pipes');
  await mkdir(folder);
  for (const script of step.scripts) {
    const file = path.join(folder, script.name);
    await writeFile(file, script.content);
    await chmod(file, 0o755);
  }
  return [{ source: folder, destination: SCRIPT_FOLDER, readOnly: true }];
}
