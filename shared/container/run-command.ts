// Moved to shared/process/run-command.ts; this re-export goes once the builder imports from there.
export * from '../process/run-command.ts';
