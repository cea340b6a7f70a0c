import { describe, expect, it } from 'vitest';
import { createIgnoreMatcher, dockerignoreCandidates } from './dockerignore.ts';

describe('createIgnoreMatcher', () => {
  it.each([
    ['a folder pattern excludes paths under it', 'build', 'build/out/app.o', true],
    ['a root glob does not reach subfolders', '*.md', 'docs/guide.md', false],
    ['** reaches any depth', '**/*.md', 'docs/deep/guide.md', true],
    ['? matches one character', 'temp?', 'tempa', true],
    ['a comment line is not a pattern', '#secret', '#secret', false],
    ['case matters', 'Secret.txt', 'secret.txt', false],
    ['a leading slash is ignored', '/secret.txt', 'secret.txt', true],
    ['the last matching line wins', '*.txt\n!keep.txt', 'keep.txt', false],
  ])('%s', (_name, rules, candidate, ignored) => {
    expect(createIgnoreMatcher(rules).ignores(candidate)).toBe(ignored);
  });

  it('always includes the paths it is told to', () => {
    const matcher = createIgnoreMatcher('*\n', ['Dockerfile', '.dockerignore']);
    expect(matcher.ignores('Dockerfile')).toBe(false);
    expect(matcher.ignores('.dockerignore')).toBe(false);
    expect(matcher.ignores('src')).toBe(true);
  });

  it('says whether exceptions exist', () => {
    expect(createIgnoreMatcher('a\n').hasExceptions).toBe(false);
    expect(createIgnoreMatcher('a\n!a/b\n').hasExceptions).toBe(true);
  });

  it('ignores nothing without rules', () => {
    expect(createIgnoreMatcher(null).ignores('anything')).toBe(false);
  });
});

describe('dockerignoreCandidates', () => {
  it('lists the Dockerfile-specific ignore file first', () => {
    expect(dockerignoreCandidates('docker/app.Dockerfile')).toEqual(['docker/app.Dockerfile.dockerignore', '.dockerignore']);
  });
});
