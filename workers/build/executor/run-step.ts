import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { writeBundle } from '../../../shared/container/bundle.ts';
import { ContainerAbortedError, ContainerTimeoutError } from '../../../shared/container/runc-errors.ts';
import { createRuntimeSpec } from '../../../shared/container/runtime-spec.ts';
import { resolveUser, type ResolvedUser } from '../../../shared/container/user-resolution.ts';
import type { NetworkSandbox } from '../../../shared/network/network-sandbox.ts';
import { buildCancelled, stepFailed, stepOutOfMemory, stepTimedOut } from '../build-errors.ts';
import { BUILD_CGROUP_PARENT, type BuildSession } from '../build-session.ts';
import type { RunStep } from '../frontend/index.ts';
import { ensureContainerFolder } from './container-folders.ts';
import { pruneCopiedUpParents, recordMountStubs, removeMountStubs, type MountStubRecord } from './mount-stubs.ts';
import { wasKilledForMemory } from './oom-check.ts';
import { BUILD_HOSTNAME, runEnvironment, writeNetworkFiles } from './run-environment.ts';
import type { StepFilesystem } from './step-filesystem.ts';

/** Lines of a failed command's output that its error message quotes. */
const FAILURE_TAIL_LINES = 10;
/** Exit code of a process ended by SIGKILL (128 + 9), which is how the OOM killer ends it. */
const SIGKILL_EXIT_CODE = 137;

/**
 * Runs a RUN step's command with runc over the step's mounted filesystem. The container
 * gets a network sandbox of its own on the bridge, so it reaches package mirrors
 * through NAT while the bridge firewall keeps the host's services out of reach. It also
 * gets generated resolv.conf, hosts and hostname files mounted read-only, and the
 * build's memory, pids and time limits. Its output goes to the build output as it arrives.
 * On return the filesystem is unmounted and holds only the command's changes: mount
 * points that runc had to create are removed again. A non-zero exit throws.
 */
export async function executeRun(session: BuildSession, step: RunStep, filesystem: StepFilesystem): Promise<void> {
  const user = await resolveUser(filesystem.root, step.user);
  // BuildKit creates a missing working directory, owned by the user the command runs as.
  await ensureContainerFolder(filesystem.root, step.workdir, { uid: user.uid, gid: user.gid });

  const containerId = session.nextContainerId();
  const cgroupsPath = `${BUILD_CGROUP_PARENT}/${containerId}`;
  const tail = new OutputTail();
  const sandbox = await session.deps.network.createSandbox(containerId);
  let outcome: { exitCode: number; stubs: MountStubRecord };
  try {
    outcome = await runContainer(session, step, filesystem, { containerId, cgroupsPath, user, sandbox, tail });
  } finally {
    await sandbox.remove();
  }

  if (outcome.exitCode !== 0) {
    const failure = { buildId: session.buildId, step, exitCode: outcome.exitCode, outputTail: tail.lines(FAILURE_TAIL_LINES) };
    const killedForMemory = outcome.exitCode === SIGKILL_EXIT_CODE && (await wasKilledForMemory(cgroupsPath));
    throw killedForMemory ? stepOutOfMemory(failure, session.deps.config.buildMemoryBytes) : stepFailed(failure);
  }

  await removeMountStubs(filesystem.root, outcome.stubs);
  await filesystem.unmount();
  await pruneCopiedUpParents(filesystem.upperDir, outcome.stubs);
}

interface ContainerSetup {
  containerId: string;
  cgroupsPath: string;
  user: ResolvedUser;
  sandbox: NetworkSandbox;
  tail: OutputTail;
}

/** Writes the bundle, records the mount points runc will create, and runs the container in the foreground. */
async function runContainer(session: BuildSession, step: RunStep, filesystem: StepFilesystem, setup: ContainerSetup): Promise<{ exitCode: number; stubs: MountStubRecord }> {
  const { config, runc } = session.deps;
  const spec = await createRuntimeSpec({
    rootfs: filesystem.root,
    args: step.args,
    env: runEnvironment(step.env, step.proxyEnv),
    cwd: step.workdir,
    user: setup.user,
    hostname: BUILD_HOSTNAME,
    networkNamespacePath: setup.sandbox.netnsPath,
    mounts: await writeNetworkFiles(path.join(filesystem.dir, 'etc'), setup.sandbox.ipAddress),
    memoryBytes: config.buildMemoryBytes,
    pidsLimit: config.buildPidsLimit,
    cgroupsPath: setup.cgroupsPath,
  });
  const stubs = await recordMountStubs(filesystem.root, spec.mounts.map((mount) => mount.destination));

  const bundle = await writeBundle(path.join(filesystem.dir, 'bundle'), spec);
  try {
    const exitCode = await runc.run(setup.containerId, bundle.dir, {
      stdout: setup.tail.sink(session, 'stdout'),
      stderr: setup.tail.sink(session, 'stderr'),
      signal: session.input.signal,
      timeoutMs: config.buildStepTimeoutMs,
    });
    return { exitCode, stubs };
  } catch (error) {
    if (error instanceof ContainerTimeoutError) throw stepTimedOut(session.buildId, step, config.buildStepTimeoutMs);
    if (error instanceof ContainerAbortedError) throw buildCancelled(session.buildId, session.input.signal?.reason);
    throw error;
  } finally {
    setup.tail.flush(session);
    await bundle.remove();
  }
}

/** Passes a command's output on to the build output and keeps its last lines for an error message. */
class OutputTail {
  private text = '';
  private readonly decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };

  sink(session: BuildSession, stream: 'stdout' | 'stderr'): (chunk: Buffer) => void {
    return (chunk) => {
      const text = this.decoders[stream].write(chunk);
      session.output.write(text, stream);
      this.remember(text);
    };
  }

  /** Writes out bytes of an incomplete UTF-8 character left at the end of either stream. */
  flush(session: BuildSession): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.decoders[stream].end();
      session.output.write(rest, stream);
      this.remember(rest);
    }
  }

  lines(count: number): string {
    return this.text.trimEnd().split('\n').slice(-count).join('\n');
  }

  private remember(text: string): void {
    // Keeps a bounded window: enough for the last lines of any sane output.
    this.text = (this.text + text).slice(-16 * 1024);
  }
}
