import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { CliError, ExitCode } from './cli-error.ts';

/** The login that `slipway login` stores: the API's address and a token for it. */
export interface StoredLogin {
  apiUrl: string;
  token: string;
}

/** Returns the CLI's folder: `$XDG_CONFIG_HOME/slipway`, else `~/.config/slipway`. */
export function configFolder(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || homedir(), '.config');
  return path.join(base, 'slipway');
}

export function loginFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(configFolder(env), 'config.json');
}

/** Returns the stored login, or null when there is none. A file that is not valid JSON is an error that names it. */
export async function readLogin(env: NodeJS.ProcessEnv = process.env): Promise<StoredLogin | null> {
  const file = loginFile(env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }

  try {
    const value = JSON.parse(text) as Partial<StoredLogin>;
    if (typeof value.apiUrl === 'string' && typeof value.token === 'string') return { apiUrl: value.apiUrl, token: value.token };
  } catch {
    // Reported below with the file's path.
  }
  throw new CliError(`${file} is not a login that slipway wrote: run "slipway login" again, or delete the file.`, ExitCode.usage);
}

/** Writes the login with mode 0600, because it contains the token. */
export async function writeLogin(login: StoredLogin, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const file = loginFile(env);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  // writeFile applies the mode only to a new file; an older file keeps its mode otherwise.
  await chmod(file, 0o600);
  return file;
}

/** Deletes the stored login; returns whether there was one. */
export async function removeLogin(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const file = loginFile(env);
  const existed = (await readLogin(env).catch(() => true)) !== null;
  await rm(file, { force: true });
  return existed;
}
