import { describe, expect, it } from 'vitest';
import { matchRegistryRoute } from './registry-paths.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('matchRegistryRoute', () => {
  it.each([
    ['/v2/', { kind: 'base' }],
    ['/v2', { kind: 'base' }],
    ['/v2/_catalog', { kind: 'catalog' }],
    ['/v2/web/tags/list', { kind: 'tags', name: 'web' }],
    ['/v2/web/manifests/latest', { kind: 'manifest', name: 'web', reference: 'latest' }],
    ['/v2/docker.io/library/debian/manifests/bookworm', { kind: 'manifest', name: 'docker.io/library/debian', reference: 'bookworm' }],
    ['/v2/web/blobs/uploads/', { kind: 'uploads', name: 'web' }],
    ['/v2/web/blobs/uploads', { kind: 'uploads', name: 'web' }],
    ['/v2/web/blobs/uploads/1234', { kind: 'upload', name: 'web', uploadId: '1234' }],
    [`/v2/web/blobs/${DIGEST}`, { kind: 'blob', name: 'web', digest: DIGEST }],
    ['/v2/team/blobs/app/manifests/v1', { kind: 'manifest', name: 'team/blobs/app', reference: 'v1' }],
  ])('matches %s', (pathname, expected) => {
    expect(matchRegistryRoute(pathname)).toEqual(expected);
  });

  it.each(['/v2/web', '/v2/web/manifests/', '/v2/web/referrers/x', '/v1/apps'])('matches no endpoint at %s', (pathname) => {
    expect(matchRegistryRoute(pathname)).toBeNull();
  });
});
