import { NotFoundError } from '../errors.ts';
import type { Descriptor, ImageIndex, Platform } from '../oci/image-types.ts';

/** The only platform Slipway runs: runners are x86-64 Linux hosts. */
export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

/**
 * Picks the manifest for `platform` from an image index or Docker manifest list. The
 * variant is ignored, since amd64 has none in practice. Fails with
 * IMAGE_PLATFORM_NOT_FOUND listing the platforms the index offers.
 */
export function selectPlatformManifest(index: ImageIndex, platform: Platform, subject: string): Descriptor {
  const match = index.manifests.find(
    (descriptor) => descriptor.platform?.os === platform.os && descriptor.platform?.architecture === platform.architecture,
  );
  if (match) return match;

  const offered = index.manifests
    .map((descriptor) => descriptor.platform)
    .filter((entry): entry is Platform => entry !== undefined)
    .map((entry) => [entry.os, entry.architecture, entry.variant].filter(Boolean).join('/'));
  const list = offered.length > 0 ? offered.join(', ') : 'none';
  throw new NotFoundError(
    'IMAGE_PLATFORM_NOT_FOUND',
    `${subject} has no image for ${platform.os}/${platform.architecture}; it offers: ${list}. Use an image built for ${platform.os}/${platform.architecture}.`,
    { details: { platforms: offered } },
  );
}
