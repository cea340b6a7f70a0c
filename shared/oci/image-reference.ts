import { ValidationError } from '../errors.ts';
import { isDigest, type Digest } from './digest.ts';

/**
 * An image reference as docker writes it (`debian:bookworm`, `ghcr.io/o/app@sha256:…`),
 * normalised the way the distribution project's reference package does: a name with no
 * registry is on Docker Hub (`docker.io`), and a one-part Hub name is under `library/`.
 */
export interface ImageReference {
  /** Registry host, with a port when one was given (`127.0.0.1:5000`). */
  registry: string;
  /** Repository path inside the registry (`library/debian`). */
  repository: string;
  tag?: string;
  digest?: Digest;
}

export const DOCKER_HUB = 'docker.io';
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export function parseImageReference(input: string): ImageReference {
  const invalid = (reason: string) =>
    new ValidationError('IMAGE_REFERENCE_INVALID', `Image reference ${JSON.stringify(input)} is invalid: ${reason}.`, {
      details: { reference: input },
    });

  let rest = input.trim();
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    const candidate = rest.slice(at + 1);
    if (!isDigest(candidate)) throw invalid('the part after "@" must be sha256: and 64 lowercase hex digits');
    digest = candidate;
    rest = rest.slice(0, at);
  }

  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw invalid(`tag ${JSON.stringify(tag)} must be 1-128 letters, digits, "_", "." or "-"`);
  }

  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    parts.shift();
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  if (parts.length === 0 || parts.some((part) => !COMPONENT.test(part))) {
    throw invalid('the name must be lowercase letters and digits, separated by "/", ".", "_" or "-"');
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');

  return { registry, repository: parts.join('/'), tag: tag ?? (digest ? undefined : 'latest'), digest };
}

/** The repository with its registry, as a key for stored tags (`docker.io/library/debian`). */
export function repositoryName(reference: ImageReference): string {
  return `${reference.registry}/${reference.repository}`;
}

export function formatImageReference(reference: ImageReference): string {
  const tag = reference.tag ? `:${reference.tag}` : '';
  const digest = reference.digest ? `@${reference.digest}` : '';
  return `${repositoryName(reference)}${tag}${digest}`;
}
