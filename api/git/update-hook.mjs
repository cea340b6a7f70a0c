// The update hook of Slipway's repositories. git receive-pack runs it once for each ref a
// push changes, with the ref's name and its old and new object names. What it prints
// reaches the pusher as `remote:` lines, and a non-zero exit rejects that ref.
//
// It only relays: the API process that started this receive-pack listens on the unix
// socket named by SLIPWAY_GIT_HOOK_SOCKET and does the work. The protocol is JSON lines:
// the hook sends {"ref", "old", "new"}, and the server replies with {"out": text} lines
// and one final {"exit": code}. Plain JavaScript with Node's built-in modules only, because
// git starts it for every ref and a loader would add a second to each push.
import net from 'node:net';

const [ref, oldId, newId] = process.argv.slice(2);
const socketPath = process.env.SLIPWAY_GIT_HOOK_SOCKET;

if (!socketPath || !ref || !oldId || !newId) {
  process.stdout.write('This repository takes pushes only through the Slipway API (http://<api>/git/<app>.git).\n');
  process.exit(1);
}

let exitCode = null;
let pending = '';
const socket = net.connect(socketPath);
socket.setEncoding('utf8');
socket.on('connect', () => socket.write(`${JSON.stringify({ ref, old: oldId, new: newId })}\n`));
socket.on('data', (text) => {
  pending += text;
  for (let end = pending.indexOf('\n'); end !== -1; end = pending.indexOf('\n')) {
    const message = JSON.parse(pending.slice(0, end));
    pending = pending.slice(end + 1);
    if (typeof message.out === 'string') process.stdout.write(message.out);
    if (typeof message.exit === 'number') exitCode = message.exit;
  }
});
socket.on('error', (error) => {
  process.stdout.write(`Lost the connection to the Slipway API (${error.message}); the push of ${ref} is rejected.\n`);
});
// Setting exitCode instead of calling process.exit lets stdout drain first.
socket.on('close', () => {
  if (exitCode === null) process.stdout.write(`The Slipway API ended the push of ${ref} without a result; it is rejected.\n`);
  process.exitCode = exitCode ?? 1;
});
