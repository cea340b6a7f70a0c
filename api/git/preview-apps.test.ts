import { describe, expect, it } from 'vitest';
import { validateAppName } from '../../shared/apps/app-name.ts';
import { previewAppName } from './preview-apps.ts';

describe('previewAppName', () => {
  it.each([
    ['feature', 'site-feature'],
    ['Feature/Login_v2', 'site-feature-login-v2'],
    ['fix--double..dots', 'site-fix-double-dots'],
    ['-leading-and-trailing-', 'site-leading-and-trailing'],
    ['日本語', 'site-branch'],
  ])('names the app of branch %j', (branch, name) => {
    expect(previewAppName('site', branch)).toBe(name);
  });

  it('cuts a long name, adding a hash', () => {
    const branch = `feature/${'x'.repeat(80)}`;
    const name = previewAppName('site', branch);
    expect(name).toHaveLength(63);
    expect(name).toMatch(/^site-feature-x+-[0-9a-f]{6}$/);
  });

  it('gives branches that share a long prefix different names', () => {
    const prefix = `feature/${'y'.repeat(70)}`;
    expect(previewAppName('site', `${prefix}-a`)).not.toBe(previewAppName('site', `${prefix}-b`));
  });

  it.each(['feature', 'Feature/Login_v2', `x/${'z'.repeat(90)}`, '--', 'a'.repeat(58)])('makes a valid app name of %j', (branch) => {
    expect(validateAppName(previewAppName('site', branch))).toBeTruthy();
    expect(validateAppName(previewAppName('site', branch, { withHash: true }))).toBeTruthy();
  });
});
