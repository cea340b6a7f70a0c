import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../shared/logger.ts';

const log = createLogger('git');

/** One ref update as git passes it to the update hook: the ref and its old and new object names. */
export interface RefUpdate {
  ref: string;
  old: string;
  new: string;
}

/** Text for the pusher, shown by git as `remote:` lines. Writing after the hook went away is a no-op. */
export interface HookOutput {
  write(text: string): void;
  line(text: string): void;
}

/** Handles one ref update and returns the hook's exit code: 0 accepts the ref, anything else rejects it. */
export type HookHandler = (update: RefUpdate, output: HookOutput) => Promise<number>;

export interface HookChannel {
  /** The socket path that the hook finds in SLIPWAY_GIT_HOOK_SOCKET. */
  socketPath: string;
  close(): Promise<void>;
}

/** Maximum length of the request line a hook sends, in bytes; a ref name is at most a few hundred bytes. */
const MAX_REQUEST_BYTES = 16 * 1024;

/**
 * Listens on a new unix socket in a private temporary folder (mode 0700) for the update
 * hooks of one receive-pack, and hands each request to `handler`. The handler keeps
 * running when the hook disconnects: a build that started finishes and releases, and
 * only its output is lost. `close` stops listening and removes the folder; it does not
 * wait for handlers, which the caller tracks.
 */
export async function openHookChannel(handler: HookHandler): Promise<HookChannel> {
  // os.tmpdir() keeps the path short: a unix socket path may have at most 107 bytes.
  const folder = await mkdtemp(path.join(tmpdir(), 'slipway-push-'));
  const socketPath = path.join(folder, 'hook.sock');
  const server = net.createServer((socket) => serveHook(socket, handler));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
  } catch (error) {
    await rm(folder, { recursive: true, force: true });
    throw error;
  }

  return {
    socketPath,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(folder, { recursive: true, force: true });
    },
  };
}

function serveHook(socket: net.Socket, handler: HookHandler): void {
  let received = '';
  socket.setEncoding('utf8');
  socket.on('error', (error) => log.debug({ err: error.message }, 'hook connection failed'));

  const onData = (text: string) => {
    received += text;
    const end = received.indexOf('\n');
    if (end === -1 && received.length <= MAX_REQUEST_BYTES) return;
    socket.off('data', onData);

    const update = parseRequest(end === -1 ? '' : received.slice(0, end));
    const output = socketOutput(socket);
    if (!update) {
      output.line('Slipway received a malformed request from its git hook; the ref is rejected.');
      finish(socket, 1);
      return;
    }
    handler(update, output).then(
      (code) => finish(socket, code),
      (error: unknown) => {
        log.error({ err: error, ref: update.ref }, 'git hook handler failed');
        output.line(`!     Slipway failed to handle ${update.ref}: ${(error as Error).message}`);
        finish(socket, 1);
      },
    );
  };
  socket.on('data', onData);
}

function parseRequest(line: string): RefUpdate | null {
  try {
    const value = JSON.parse(line) as Partial<RefUpdate>;
    if (typeof value.ref !== 'string' || typeof value.old !== 'string' || typeof value.new !== 'string') return null;
    return { ref: value.ref, old: value.old, new: value.new };
  } catch {
    return null;
  }
}

function socketOutput(socket: net.Socket): HookOutput {
  const write = (text: string) => {
    if (text && socket.writable) socket.write(`${JSON.stringify({ out: text })}\n`);
  };
  return { write, line: (text) => write(`${text}\n`) };
}

function finish(socket: net.Socket, code: number): void {
  if (socket.writable) socket.end(`${JSON.stringify({ exit: code })}\n`);
}
