import { describe, expect, it } from 'vitest';
import type { ImageIndex } from '../oci/image-types.ts';
import { DEFAULT_PLATFORM, selectPlatformManifest } from './platform.ts';

const digest = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}` as const;

function indexOf(...platforms: [string, string, string?][]): ImageIndex {
  return {
    schemaVersion: 2,
    manifests: platforms.map(([os, architecture, variant], n) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: digest(n + 1),
      size: 100,
      platform: { os, architecture, ...(variant ? { variant } : {}) },
    })),
  };
}

describe('selectPlatformManifest', () => {
  it('picks linux/amd64 among other platforms', () => {
    const chosen = selectPlatformManifest(indexOf(['linux', 'arm64', 'v8'], ['linux', 'amd64']), DEFAULT_PLATFORM, 'Image x');

    expect(chosen.digest).toBe(digest(2));
  });

  it('lists the offered platforms when none matches', () => {
    expect(() => selectPlatformManifest(indexOf(['linux', 'arm64', 'v8'], ['windows', 'amd64']), DEFAULT_PLATFORM, 'Image x')).toThrow(
      expect.objectContaining({ code: 'IMAGE_PLATFORM_NOT_FOUND', message: expect.stringContaining('linux/arm64/v8, windows/amd64') }),
    );
  });
});
