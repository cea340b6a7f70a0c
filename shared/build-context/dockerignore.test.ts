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

/**
 * The examples of the .dockerignore section of Docker's build context documentation,
 * each as rules, a path relative to the context root, and whether it is excluded.
 */
describe('createIgnoreMatcher with the examples of the reference', () => {
  it.each([
    ['# comment', '# comment', false],
    ['*/temp*', 'somedir/temporary.txt', true],
    ['*/temp*', 'somedir/temp', true],
    ['*/temp*', 'temporary.txt', false],
    ['*/temp*', 'a/b/temporary.txt', false],
    ['*/*/temp*', 'somedir/subdir/temporary.txt', true],
    ['*/*/temp*', 'somedir/temporary.txt', false],
    ['temp?', 'tempa', true],
    ['temp?', 'tempb', true],
    ['temp?', 'temp', false],
    ['temp?', 'tempab', false],
    ['**/*.go', 'main.go', true],
    ['**/*.go', 'cmd/tool/main.go', true],
    ['**/*.go', 'main.gox', false],
    ['/foo/bar', 'foo/bar', true],
    ['foo/bar', 'foo/bar/inside.txt', true],
    ['foo/bar', 'bar', false],
    ['foo/bar', 'x/foo/bar', false],
    ['  spaced  ', 'spaced', true],
    ['./foo/../bar/', 'bar/file', true],
    ['*.md\n!README.md', 'README.md', false],
    ['*.md\n!README.md', 'CHANGELOG.md', true],
    ['*.md\n!README*.md\nREADME-secret.md', 'README-secret.md', true],
    ['*.md\n!README*.md\nREADME-secret.md', 'README-public.md', false],
    ['*.md\nREADME-secret.md\n!README*.md', 'README-secret.md', false],
    ['*\n!src', 'src/main.c', false],
    ['*\n!src', 'build/out.o', true],
    ['build\n!build/keep.txt', 'build/keep.txt', false],
    ['build\n!build/keep.txt', 'build/drop.txt', true],
    ['[a-c]*.txt', 'b.txt', true],
    ['[!a]*.txt', '!x.txt', true],
    ['\\*.txt', '*.txt', true],
    ['\\*.txt', 'a.txt', false],
  ])('rules %j: %s is excluded: %s', (rules, candidate, excluded) => {
    expect(createIgnoreMatcher(rules).ignores(candidate)).toBe(excluded);
  });
});
