import { createInterface } from 'node:readline/promises';
import { loadConfig } from '../../shared/config.ts';
import { ApiClient } from '../api-client.ts';
import { loginFile, removeLogin, writeLogin } from '../cli-config.ts';
import { ApiError, CliError, ExitCode } from '../cli-error.ts';
import { parseCommandArgs, type Command } from '../command.ts';

const options = { 'api-url': { type: 'string' }, 'token-stdin': { type: 'boolean' } } as const;

export const loginCommand: Command = {
  summary: 'Store the API address and token that the other commands use',
  options,
  usage: [
    'Usage: slipway login [--api-url URL] [--token-stdin]',
    '',
    'Checks the token against the API and stores both in $XDG_CONFIG_HOME/slipway/config.json',
    '(default ~/.config/slipway, mode 0600). On a terminal it asks for what is not given;',
    'the token is not echoed. SLIPWAY_API_URL and SLIPWAY_TOKEN, when set, still win.',
    '',
    'Options:',
    '  --api-url URL     The API, such as https://slipway.example.com (default: SLIPWAY_API_URL,',
    '                    else the local server, http://127.0.0.1:7070)',
    '  --token-stdin     Read the token from standard input, like docker login --password-stdin',
  ].join('\n'),

  async run(args) {
    const { values, positionals } = parseCommandArgs(args, options);
    if (positionals.length > 0) throw new CliError(`unexpected arguments: ${positionals.join(' ')}`, ExitCode.usage);
    const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY) && !values['token-stdin'];
    const localUrl = `http://127.0.0.1:${loadConfig().apiPort}`;

    let apiUrl = values['api-url'] ?? process.env.SLIPWAY_API_URL;
    if (!apiUrl && interactive) apiUrl = (await ask(`API URL [${localUrl}]: `)) || localUrl;
    apiUrl = normalizeUrl(apiUrl ?? localUrl);

    let token: string | undefined;
    if (values['token-stdin']) token = (await readStdin()).trim();
    else if (interactive) token = (await askSecret('API token: ')).trim();
    else token = process.env.SLIPWAY_TOKEN;
    if (!token) throw new CliError('give the token: pipe it in with --token-stdin, or run slipway login on a terminal.', ExitCode.usage);

    const client = new ApiClient(apiUrl, token);
    try {
      await client.request('GET', '/v1/apps');
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) throw new CliError(`${apiUrl} rejected the token: check it and log in again.`, ExitCode.unavailable);
      throw error;
    }
    const file = await writeLogin({ apiUrl, token });
    process.stdout.write(`Logged in to ${apiUrl}; the token is stored in ${file}.\n`);
    return ExitCode.ok;
  },
};

export const logoutCommand: Command = {
  summary: 'Delete the login that slipway login stored',
  options: {},
  usage: ['Usage: slipway logout', '', 'Deletes $XDG_CONFIG_HOME/slipway/config.json (default ~/.config/slipway).'].join('\n'),

  async run(args) {
    const { positionals } = parseCommandArgs(args, {});
    if (positionals.length > 0) throw new CliError(`unexpected arguments: ${positionals.join(' ')}`, ExitCode.usage);
    const existed = await removeLogin();
    process.stdout.write(existed ? `Logged out; deleted ${loginFile()}.\n` : 'Not logged in.\n');
    return ExitCode.ok;
  },
};

function normalizeUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError(`${JSON.stringify(text)} is not a URL: give one such as https://slipway.example.com.`, ExitCode.usage);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`${text} is not an http or https URL.`, ExitCode.usage);
  return url.toString().replace(/\/+$/, '');
}

async function ask(question: string): Promise<string> {
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return (await prompt.question(question)).trim();
  } finally {
    prompt.close();
  }
}

/** Reads a line from the terminal without echoing it. */
function askSecret(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stdout.write(question);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();

  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stdout.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (text: string) => {
      for (const char of text) {
        if (char === '\r' || char === '\n') return finish();
        if (char === '\u0003') return finish(new CliError('login cancelled.', ExitCode.failure));
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else value += char;
      }
    };
    stdin.on('data', onData);
  });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
