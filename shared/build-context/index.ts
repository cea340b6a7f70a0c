/**
 * Build contexts: checking and reading an uploaded archive (the API), extracting it for
 * a build (the build worker) and packing a folder for upload (the CLI).
 */
export { inspectContextArchive, MAX_BUILD_FILE_BYTES, type ContextInspection, type InspectOptions } from './inspect-context.ts';
export { extractContext, type ExtractOptions, type ExtractResult } from './extract-context.ts';
export { packContext, type PackOptions } from './pack-context.ts';
export { validateDockerfilePath } from './context-paths.ts';
export { createIgnoreMatcher, type IgnoreMatcher } from './dockerignore.ts';
export { ContextError, type ContextErrorCode } from './context-errors.ts';
