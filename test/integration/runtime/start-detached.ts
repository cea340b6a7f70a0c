// Starts a detached container and exits, so a test can check that the container outlives
// the process that started it. Usage: tsx start-detached.ts <runc state dir> <id> <bundle dir> <log file>
import { closeSync, openSync } from 'node:fs';
import { Runc } from '../../../shared/container/runc.ts';

const [stateDir, id, bundleDir, logPath] = process.argv.slice(2) as [string, string, string, string];
const fd = openSync(logPath, 'a');
try {
  const pid = await new Runc({ stateDir }).runDetached(id, bundleDir, { stdoutFd: fd, stderrFd: fd });
  process.stdout.write(`${pid}\n`);
} finally {
  closeSync(fd);
}
