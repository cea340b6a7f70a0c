import { readFile } from 'node:fs/promises';
import { loadConfig } from '../shared/config.ts';
import { adminTokenPath } from '../api/auth/api-tokens.ts';
import { CliError, ExitCode } from './cli-error.ts';

export interface ApiErrorBody {
  error?: { code?: string; message?: string; line?: number };
}

/**
 * The CLI's view of the API. The address comes from SLIPWAY_API_URL, else the local
 * server's port (SLIPWAY_API_PORT, default 7070) on 127.0.0.1; the token from
 * SLIPWAY_TOKEN, else the admin token file in the local data folder.
 */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  static async fromEnvironment(env: NodeJS.ProcessEnv = process.env): Promise<ApiClient> {
    const config = loadConfig(env);
    const baseUrl = (env.SLIPWAY_API_URL ?? `http://127.0.0.1:${config.apiPort}`).replace(/\/$/, '');
    const token = env.SLIPWAY_TOKEN ?? (await readTokenFile(adminTokenPath(config.dataDir)));
    return new ApiClient(baseUrl, token);
  }

  async request(method: string, path: string, init: { json?: unknown; body?: BodyInit; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, ...init.headers };
    let body = init.body;
    if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    }

    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, { method, headers, body, duplex: 'half' } as RequestInit);
    } catch (error) {
      throw new CliError(
        `Cannot reach the Slipway API at ${this.baseUrl}: ${(error as Error).cause ?? (error as Error).message}. Start it with "npm start" or set SLIPWAY_API_URL.`,
        ExitCode.unavailable,
      );
    }
    if (!response.ok) throw await errorFromResponse(response);
    return response;
  }

  async json<T>(method: string, path: string, json?: unknown): Promise<T> {
    const response = await this.request(method, path, { json });
    return (await response.json()) as T;
  }
}

async function readTokenFile(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    throw new CliError(`No API token: set SLIPWAY_TOKEN, or run the CLI where the server's data folder is (${file} was not readable).`, ExitCode.unavailable);
  }
}

async function errorFromResponse(response: Response): Promise<CliError> {
  const text = await response.text();
  let message = text.trim() || response.statusText;
  try {
    const body = JSON.parse(text) as ApiErrorBody;
    if (body.error?.message) message = body.error.message;
  } catch {
    // Not JSON: show the text as it came.
  }
  const exitCode = response.status === 401 || response.status === 503 ? ExitCode.unavailable : ExitCode.failure;
  return new CliError(`${message} (HTTP ${response.status})`, exitCode);
}
