#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's loader, so the project needs no build step.
import { register } from 'tsx/esm/api';

// Client commands print for people; the service log of the code they share stays quiet
// unless asked for. The server logs at info.
if (process.argv[2] !== 'server' && !process.env.SLIPWAY_LOG_LEVEL) process.env.SLIPWAY_LOG_LEVEL = 'warn';

// A reader that stops early (`slipway apps list | head -1`) closes the pipe; that is not an error.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
