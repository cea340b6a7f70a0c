import { readFile } from 'node:fs/promises';
import { loadConfig } from '../shared/config.ts';
import { adminTokenPath } from '../api/auth/api-tokens.ts';
import { ApiError, CliError, ExitCode } from './cli-error.ts';
import { readLogin } from './cli-config.ts';

export interface ApiErrorBody {
  error?: { code?: string; message?: string; line?: number };
}

export interface RequestOptions {
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * The CLI's view of the API. The address and token come from SLIPWAY_API_URL and
 * SLIPWAY_TOKEN, else from the login that `slipway login` stored, else from the local
 * server: its port (SLIPWAY_API_PORT, default 7070) on 127.0.0.1 and the admin token file
 * in its data folder.
 */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly token: string,
  ) {}

  static async fromEnvironment(env: NodeJS.ProcessEnv = process.env): Promise<ApiClient> {
    const login = env.SLIPWAY_API_URL && env.SLIPWAY_TOKEN ? null : await readLogin(env);
    // An empty SLIPWAY_TOKEN counts as unset, as an empty shell variable usually does.
    const config = loadConfig(env);
    const baseUrl = (env.SLIPWAY_API_URL ?? login?.apiUrl ?? `http://127.0.0.1:${config.apiPort}`).replace(/\/+$/, '');
    const token = env.SLIPWAY_TOKEN || login?.token || (await readTokenFile(adminTokenPath(config.dataDir)));
    return new ApiClient(baseUrl, token);
  }

  /** Sends a request; rejects with ApiError for an error response and CliError when the server cannot be reached. */
  async request(method: string, path: string, init: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, ...init.headers };
    let body = init.body;
    if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    }

    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, { method, headers, body, duplex: 'half', signal: init.signal } as RequestInit);
    } catch (error) {
      if (init.signal?.aborted) throw error;
      const cause = (error as Error).cause as { code?: string; message?: string } | undefined;
      throw new CliError(
        `Cannot reach the Slipway API at ${this.baseUrl} (${cause?.code ?? cause?.message ?? (error as Error).message}): start it with "npm start", or point the CLI at it with "slipway login" or SLIPWAY_API_URL.`,
        ExitCode.unavailable,
      );
    }
    if (!response.ok) throw await errorFromResponse(response);
    return response;
  }

  async json<T>(method: string, path: string, json?: unknown): Promise<T> {
    const response = await this.request(method, path, { json });
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }
}

async function readTokenFile(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    throw new CliError(
      `No API token: run "slipway login", set SLIPWAY_TOKEN, or run the CLI where the server's data folder is (${file} was not readable).`,
      ExitCode.unavailable,
    );
  }
}

async function errorFromResponse(response: Response): Promise<ApiError> {
  const text = await response.text();
  let message = text.trim() || response.statusText;
  let code: string | undefined;
  try {
    const body = JSON.parse(text) as ApiErrorBody;
    if (body.error?.message) message = body.error.message;
    code = body.error?.code;
  } catch {
    // Not JSON: show the text as it came.
  }
  if (response.status === 401) message = `${message} Log in again with "slipway login".`;
  return new ApiError(message, response.status, code);
}
