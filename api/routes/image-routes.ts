import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Hono } from 'hono';
import { ADMIN_OWNER } from '../../shared/apps/owners.ts';
import { NotFoundError, SlipwayError, ValidationError } from '../../shared/errors.ts';
import { resolveImageForOwner } from '../../shared/images/image-reach.ts';
import { importImageArchive } from '../../shared/images/image-import.ts';
import { formatImageReference, parseImageReference } from '../../shared/oci/image-reference.ts';
import type { ApiDeps, ApiEnv } from '../api-deps.ts';

export function imageRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const routes = new Hono<ApiEnv>();

  // Loads a docker-archive or OCI-layout tarball, like `docker load`, and tags it. Image
  // store names are shared by every owner's FROM, so only an admin token may set them.
  routes.post('/import', async (c) => {
    if (c.get('owner') !== ADMIN_OWNER) {
      throw new SlipwayError(
        'ADMIN_ONLY',
        'Only an admin token can import images, because every owner\'s builds read image store names: ask an admin, or push the image to one of your apps through the registry.',
        { status: 403 },
      );
    }
    const ref = c.req.query('ref');
    if (!ref) {
      throw new ValidationError('IMAGE_REFERENCE_MISSING', 'Give the name to tag the image with as ?ref=name:tag, for example ?ref=debian:bookworm.');
    }
    const reference = parseImageReference(ref);
    if (!c.req.raw.body) {
      throw new ValidationError('IMAGE_ARCHIVE_MISSING', 'The request has no body: send a docker-archive or OCI-layout tarball.');
    }

    const body = Readable.fromWeb(c.req.raw.body as WebReadableStream<Uint8Array>);
    const image = await importImageArchive(body, reference, { images: deps.images, blobs: deps.blobs, tempDir: `${deps.config.dataDir}/tmp` });
    deps.log.info({ reference: formatImageReference(reference), digest: image.digest }, 'image imported');
    return c.json({ reference: formatImageReference(reference), digest: image.digest }, 201);
  });

  // Looks an image up by reference: 200 with its digest, or 404.
  routes.get('/', async (c) => {
    const ref = c.req.query('ref');
    if (!ref) throw new ValidationError('IMAGE_REFERENCE_MISSING', 'Give the image to look up as ?ref=name:tag, for example ?ref=debian:bookworm.');
    const reference = parseImageReference(ref);
    const digest = await resolveImageForOwner(deps, reference, c.get('owner'));
    if (!digest) {
      throw new NotFoundError('IMAGE_NOT_FOUND', `Image ${formatImageReference(reference)} is not in the image store.`, {
        details: { reference: formatImageReference(reference) },
      });
    }
    return c.json({ reference: formatImageReference(reference), digest });
  });

  return routes;
}
