import { describe, expect, it } from 'vitest';
import { planRefUpdate } from './ref-plan.ts';

const ZERO = '0'.repeat(40);
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const PRODUCTION = ['main', 'master'];

describe('planRefUpdate', () => {
  it.each([
    ['main', { kind: 'deploy', branch: 'main', commit: B, preview: false }],
    ['master', { kind: 'deploy', branch: 'master', commit: B, preview: false }],
    ['feature/login', { kind: 'deploy', branch: 'feature/login', commit: B, preview: true }],
  ])('deploys a push of %s', (branch, plan) => {
    expect(planRefUpdate({ ref: `refs/heads/${branch}`, old: A, new: B }, PRODUCTION)).toEqual(plan);
  });

  it('deletes the preview app of a deleted branch', () => {
    expect(planRefUpdate({ ref: 'refs/heads/feature', old: A, new: ZERO }, PRODUCTION)).toEqual({ kind: 'delete-preview', branch: 'feature' });
  });

  it('rejects deleting a production branch', () => {
    expect(planRefUpdate({ ref: 'refs/heads/main', old: A, new: ZERO }, PRODUCTION)).toMatchObject({ kind: 'reject' });
  });

  it("deploys a production branch pushed to a preview app's own repository", () => {
    expect(planRefUpdate({ ref: 'refs/heads/main', old: A, new: B }, PRODUCTION, true)).toEqual({ kind: 'deploy', branch: 'main', commit: B, preview: false });
  });

  it("rejects another branch pushed to a preview app's own repository, so previews do not nest", () => {
    expect(planRefUpdate({ ref: 'refs/heads/x', old: A, new: B }, PRODUCTION, true)).toMatchObject({
      kind: 'reject',
      message: expect.stringContaining('push x to the repository of the app it previews'),
    });
  });

  it.each([
    [B, 'Tag v1 stored; tags do not deploy.'],
    [ZERO, 'Tag v1 deleted; tags do not deploy.'],
  ])('stores a tag update to %s', (newId, message) => {
    expect(planRefUpdate({ ref: 'refs/tags/v1', old: A, new: newId }, PRODUCTION)).toEqual({ kind: 'store', message });
  });

  it.each(['refs/notes/commits', 'refs/remotes/origin/main', 'refs/pull/1/head'])('rejects %s', (ref) => {
    expect(planRefUpdate({ ref, old: ZERO, new: B }, PRODUCTION)).toMatchObject({ kind: 'reject', message: expect.stringContaining(ref) });
  });
});
