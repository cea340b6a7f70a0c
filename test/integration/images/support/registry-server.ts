import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../../support/free-port.ts';

export interface TokenAuthSettings {
  realm: string;
  service: string;
  issuer: string;
  /** PEM file with the certificate whose key signs the tokens. */
  rootCertBundle: string;
}

export interface RunningRegistry {
  /** `127.0.0.1:<port>`, as an image reference names the registry. */
  host: string;
  storageDir: string;
  stop(): Promise<void>;
}

/**
 * Starts Debian's docker-registry (distribution 2.8) on 127.0.0.1 with filesystem
 * storage in `workDir`, plain HTTP, and token auth when `tokenAuth` is given. Resolves
 * once `/v2/` responds.
 */
export async function startRegistry(workDir: string, tokenAuth?: TokenAuthSettings): Promise<RunningRegistry> {
  const port = await freePort();
  const storageDir = path.join(workDir, 'storage');
  await mkdir(storageDir, { recursive: true });
  const authBlock = tokenAuth
    ? [
        'auth:',
        '  token:',
        `    realm: ${tokenAuth.realm}`,
        `    service: ${tokenAuth.service}`,
        `    issuer: ${tokenAuth.issuer}`,
        `    rootcertbundle: ${tokenAuth.rootCertBundle}`,
      ]
    : [];
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storageDir}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: slipway-test-secret',
    ...authBlock,
    '',
  ].join('\n');
  const configPath = path.join(workDir, 'registry.yml');
  await writeFile(configPath, config);

  const child = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let errorOutput = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    errorOutput += chunk.toString('utf8');
  });
  const host = `127.0.0.1:${port}`;
  try {
    await waitUntilAnswering(`http://${host}/v2/`, child);
  } catch (error) {
    await stopChild(child);
    throw new Error(`docker-registry did not start: ${String(error)}\n${errorOutput}`);
  }
  return { host, storageDir, stop: () => stopChild(child) };
}

async function waitUntilAnswering(url: string, child: ChildProcess): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`);
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (response.status === 200 || response.status === 401) return;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer within 10 s`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
