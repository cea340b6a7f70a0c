import { describe, expect, it } from 'vitest';
import { MediaType } from '../../shared/oci/media-types.ts';
import { parseManifest, readStoredManifest } from './manifest-document.ts';

const descriptor = (mediaType: string, fill: string) => ({ mediaType, digest: `sha256:${fill.repeat(64)}`, size: 10 });
const manifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: descriptor(MediaType.ociConfig, 'a'), layers: [descriptor(MediaType.ociLayerGzip, 'b')] };
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('parseManifest', () => {
  it('lists the config and layers of a manifest as its references', () => {
    const parsed = parseManifest(bytes(manifest), MediaType.ociManifest);

    expect(parsed.kind).toBe('manifest');
    expect(parsed.references.map((entry) => entry.digest)).toEqual([manifest.config.digest, manifest.layers[0]!.digest]);
  });

  it.each([
    ['a manifest without mediaType', { ...manifest, mediaType: undefined }, undefined, MediaType.ociManifest],
    ['an index without mediaType', { schemaVersion: 2, manifests: [] }, undefined, MediaType.ociIndex],
    ['a Docker manifest told by its Content-Type', { ...manifest, mediaType: undefined }, MediaType.dockerManifest, MediaType.dockerManifest],
    ['a Content-Type with parameters', manifest, `${MediaType.ociManifest}; charset=utf-8`, MediaType.ociManifest],
  ])('finds the media type of %s', (_case, document, contentType, expected) => {
    expect(parseManifest(bytes(document), contentType).mediaType).toBe(expected);
  });

  it.each([
    ['schemaVersion 1', { ...manifest, schemaVersion: 1 }],
    ['an artifact media type', { ...manifest, mediaType: 'application/vnd.example+json' }],
    ['layers that are not an array', { ...manifest, layers: {} }],
    ['a negative size', { ...manifest, config: { ...manifest.config, size: -1 } }],
    ['an uppercase digest', { ...manifest, config: { ...manifest.config, digest: `sha256:${'A'.repeat(64)}` } }],
    ['an invalid subject', { ...manifest, subject: { mediaType: MediaType.ociManifest } }],
    ['neither config nor manifests', { schemaVersion: 2 }],
    ['an array', [manifest]],
  ])('rejects %s', (_case, document) => {
    expect(() => parseManifest(bytes(document), undefined)).toThrow(expect.objectContaining({ registryCode: 'MANIFEST_INVALID' }));
  });

  it('reads a config blob as no manifest', () => {
    expect(readStoredManifest(bytes({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }))).toBeNull();
  });
});
