/**
 * The endpoints of the distribution spec under `/v2/`. Repository names contain slashes,
 * so routes are matched with patterns anchored at their fixed suffix, as Docker's
 * registry does. The name is checked afterwards, so that a bad one gets NAME_INVALID.
 */
export type RegistryRoute =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'tags'; name: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; uploadId: string }
  | { kind: 'blob'; name: string; digest: string };

const PATTERNS: [RegExp, (match: RegExpExecArray) => RegistryRoute][] = [
  [/^\/v2\/?$/, () => ({ kind: 'base' })],
  [/^\/v2\/_catalog$/, () => ({ kind: 'catalog' })],
  [/^\/v2\/(.+)\/tags\/list$/, (match) => ({ kind: 'tags', name: match[1]! })],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (match) => ({ kind: 'manifest', name: match[1]!, reference: match[2]! })],
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, (match) => ({ kind: 'uploads', name: match[1]! })],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, (match) => ({ kind: 'upload', name: match[1]!, uploadId: match[2]! })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (match) => ({ kind: 'blob', name: match[1]!, digest: match[2]! })],
];

/** The methods each endpoint implements; others get 405 UNSUPPORTED. */
export const ROUTE_METHODS: Record<RegistryRoute['kind'], readonly string[]> = {
  base: ['GET', 'HEAD'],
  catalog: ['GET'],
  tags: ['GET'],
  manifest: ['GET', 'HEAD', 'PUT'],
  uploads: ['POST'],
  upload: ['GET', 'PATCH', 'PUT', 'DELETE'],
  blob: ['GET', 'HEAD'],
};

export function matchRegistryRoute(pathname: string): RegistryRoute | null {
  for (const [pattern, build] of PATTERNS) {
    const match = pattern.exec(pathname);
    if (match) return build(match);
  }
  return null;
}

/** Checks whether a request only reads (pull) its repository, or also writes (push) it. */
export function isReadRequest(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}
