import { describe, expect, it } from 'vitest';
import { appFromRepositoryUrl } from './app-option.ts';

describe('appFromRepositoryUrl', () => {
  it.each([
    ['http://127.0.0.1:7070/git/hello.git', 'hello'],
    ['https://slipway.example.com/git/my-app.git/', 'my-app'],
    ['https://slipway.example.com/git/my-app', 'my-app'],
  ])('reads the app of %s', (url, app) => {
    expect(appFromRepositoryUrl(url)).toBe(app);
  });

  it.each(['git@github.com:owner/repo.git', 'https://github.com/owner/repo.git'])('finds no app in %s', (url) => {
    expect(appFromRepositoryUrl(url)).toBeNull();
  });
});
