import { RegistryError } from './registry-errors.ts';

/**
 * The target of a repository name of this registry. A one-component name is an app,
 * served with a tag per release. A name whose first component is a registry host
 * (`docker.io/library/debian`) is an image of the image store, as `/v1/images/import`
 * and FROM name them.
 */
export type RepositoryTarget = { kind: 'app'; name: string } | { kind: 'image'; name: string };

/** A path component of a repository name, from the distribution spec v1.1. */
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
/** The distribution spec keeps a whole name under 256 characters. */
const MAX_NAME_LENGTH = 255;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

export function parseRepositoryName(name: string): RepositoryTarget {
  const components = name.split('/');
  if (name.length > MAX_NAME_LENGTH || components.some((component) => !COMPONENT.test(component))) {
    throw new RegistryError(
      'NAME_INVALID',
      `Repository name ${JSON.stringify(name)} is invalid: use lowercase path components of letters and digits separated by ".", "_" or "-", joined with "/", under 256 characters.`,
      { detail: { name } },
    );
  }
  if (components.length === 1) return { kind: 'app', name };

  const first = components[0]!;
  if (first.includes('.') || first === 'localhost') return { kind: 'image', name };

  throw new RegistryError(
    'NAME_UNKNOWN',
    `Repository ${JSON.stringify(name)} is not served here: pull an app as <app> or a stored image under its full name, such as docker.io/library/debian.`,
    { detail: { name } },
  );
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

/**
 * Tags of an app that name its releases: `latest` is the current release and `vN` is
 * release N. A push may not set them, because a release is made only through a deploy.
 */
export function isReleaseTag(tag: string): boolean {
  return tag === 'latest' || /^v[1-9][0-9]*$/.test(tag);
}

export { pushedTagsName, PUSHED_TAGS_PREFIX } from '../../shared/images/image-reach.ts';
