import path from 'node:path';
import { Hono, type Context } from 'hono';
import type { BlobStore } from '../../shared/blobs/blob-store.ts';
import type { Config } from '../../shared/config.ts';
import type { Database } from '../../shared/db/database.ts';
import type { Logger } from '../../shared/logger.ts';
import { getBlob } from './blob-handlers.ts';
import { listCatalogPage, listTagsPage } from './list-handlers.ts';
import { getManifest, putManifest } from './manifest-handlers.ts';
import { authenticate, challengeError, isAllowed, type RegistryPrincipal } from './registry-auth.ts';
import { API_VERSION_HEADER, handleRegistryError, RegistryError } from './registry-errors.ts';
import { isReadRequest, matchRegistryRoute, ROUTE_METHODS, type RegistryRoute } from './registry-paths.ts';
import { RegistryTokenSigner, type AccessEntry } from './registry-tokens.ts';
import { openRepository } from './repositories.ts';
import { repositoryReferencesBlob } from './repository-blobs.ts';
import { ADMIN_OWNER } from '../auth/api-tokens.ts';
import { isDigest, type Digest } from '../../shared/oci/digest.ts';
import { handleTokenRequest } from './token-route.ts';
import { appendChunk, cancelUpload, finishUpload, startUpload, uploadStatus, type UploadDeps } from './upload-handlers.ts';
import { UploadSessions } from './upload-sessions.ts';

export interface RegistryDeps {
  config: Config;
  db: Database;
  blobs: BlobStore;
  log: Logger;
}

/**
 * Serves the OCI distribution API (spec v1.1) for `/v2`: pulls of apps (tags `latest` and `vN`
 * per release, plus pushed tags) and of stored images, pushes of blobs and manifests, and
 * the token endpoint. Mount it at `/v2`, outside `/v1`'s token middleware, because it
 * checks credentials itself and returns errors in the spec's format.
 */
export function registryRoutes(deps: RegistryDeps): Hono {
  const log = deps.log.child({ component: 'registry' });
  const maxBlobBytes = deps.config.registryMaxBlobBytes;
  const uploads = new UploadSessions(path.join(deps.config.dataDir, 'registry-uploads'), log, { maxBlobBytes });
  let signer: Promise<RegistryTokenSigner> | undefined;
  const openSigner = () => {
    signer ??= RegistryTokenSigner.open(deps.config.dataDir).catch((error: unknown) => {
      signer = undefined;
      throw error;
    });
    return signer;
  };

  const routes = new Hono();
  routes.onError((error, c) => handleRegistryError(error, c, log));
  routes.use('*', async (c, next) => {
    for (const [name, value] of Object.entries(API_VERSION_HEADER)) c.header(name, value);
    await next();
  });
  routes.on(['GET', 'POST'], '/token', async (c) => handleTokenRequest(c, { db: deps.db, signer: await openSigner(), log }));
  routes.all('*', async (c) => {
    const route = matchRegistryRoute(c.req.path);
    if (!route) throw new RegistryError('UNSUPPORTED', `No registry endpoint is at ${c.req.method} ${c.req.path}.`, { status: 404 });
    if (!ROUTE_METHODS[route.kind].includes(c.req.method)) {
      throw new RegistryError('UNSUPPORTED', `${c.req.method} is not supported on ${c.req.path}; this registry never deletes manifests or blobs.`, {
        headers: { Allow: ROUTE_METHODS[route.kind].join(', ') },
      });
    }

    const principal = await authorize(c, deps.db, await openSigner(), route);
    return dispatch(c, route, principal, { ...deps, uploads, log, maxBlobBytes });
  });
  return routes;
}

/** Returns the access a request needs: pull to read a repository, pull and push to write one. */
function neededAccess(route: RegistryRoute, method: string): AccessEntry | null {
  if (route.kind === 'base') return null;
  if (route.kind === 'catalog') return { type: 'registry', name: 'catalog', actions: ['*'] };

  const reads = isReadRequest(method) && route.kind !== 'upload';
  return { type: 'repository', name: route.name, actions: reads ? ['pull'] : ['pull', 'push'] };
}

async function authorize(c: Context, db: Database, signer: RegistryTokenSigner, route: RegistryRoute): Promise<RegistryPrincipal> {
  const needed = neededAccess(route, c.req.method);
  const result = await authenticate(db, signer, c.req.header('authorization'));
  if (result === 'missing' || result === 'invalid') throw challengeError(c, needed, result);
  if (needed && !isAllowed(result, needed)) throw challengeError(c, needed, 'insufficient_scope');
  return result;
}

async function dispatch(c: Context, route: RegistryRoute, principal: RegistryPrincipal, deps: RegistryDeps & UploadDeps): Promise<Response> {
  const method = c.req.method;
  const { owner } = principal;
  switch (route.kind) {
    case 'base':
      return c.json({});
    case 'catalog':
      return listCatalogPage(c, deps.db, owner);
    case 'tags':
      return listTagsPage(c, deps.db, await openRepository(deps.db, route.name, 'pull', owner));
    case 'manifest': {
      const repository = await openRepository(deps.db, route.name, isReadRequest(method) ? 'pull' : 'push', owner);
      return isReadRequest(method) ? getManifest(c, deps, repository, route.reference) : putManifest(c, deps, repository, route.reference);
    }
    case 'blob': {
      // A client checks for blobs before its first push to a new image name, so reads of
      // blobs do not require the name to have a tag yet.
      const repository = await openRepository(deps.db, route.name, owner === ADMIN_OWNER ? 'push' : 'pull', owner);
      if (owner !== ADMIN_OWNER && isDigest(route.digest) && !(await repositoryReferencesBlob(deps.db, deps.blobs, repository, route.digest))) {
        throw new RegistryError('BLOB_UNKNOWN', `Blob ${route.digest} is unknown in repository ${repository.name}.`, { detail: { name: repository.name, digest: route.digest } });
      }
      return getBlob(c, deps.blobs, repository, route.digest);
    }
    case 'uploads': {
      const repository = await openRepository(deps.db, route.name, 'push', owner);
      return startUpload(c, deps, repository, (from, digest) => mayMount(principal, deps, from, digest));
    }
    case 'upload': {
      const repository = await openRepository(deps.db, route.name, 'push', owner);
      const session = await deps.uploads.open(route.uploadId, repository.name);
      if (method === 'GET') return uploadStatus(c, deps, session);
      if (method === 'PATCH') return appendChunk(c, deps, session);
      if (method === 'PUT') return finishUpload(c, deps, repository, session);
      return cancelUpload(c, deps, session);
    }
  }
}

/** Checks whether a blob may mount from another repository: only when the sender could pull it from there. */
async function mayMount(principal: RegistryPrincipal, deps: RegistryDeps, from: string, digest: Digest): Promise<boolean> {
  if (!isAllowed(principal, { type: 'repository', name: from, actions: ['pull'] })) return false;
  if (principal.owner === ADMIN_OWNER) return true;
  const source = await openRepository(deps.db, from, 'pull', principal.owner).catch(() => null);
  return source !== null && (await repositoryReferencesBlob(deps.db, deps.blobs, source, digest));
}
