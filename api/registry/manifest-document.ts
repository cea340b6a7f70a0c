import { isDigest } from '../../shared/oci/digest.ts';
import type { Descriptor } from '../../shared/oci/image-types.ts';
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, MediaType } from '../../shared/oci/media-types.ts';
import { RegistryError } from './registry-errors.ts';

/** containerd reads at most 4 MiB of a manifest, so a larger one could never be pulled. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** A manifest or index as stored: its bytes, its media type and the descriptors it points to. */
export interface ManifestDocument {
  mediaType: string;
  kind: 'manifest' | 'index';
  /** The config and layers of a manifest, or the manifests of an index. */
  references: Descriptor[];
  /** The manifests of an index, with their platforms; empty for a manifest. */
  manifests: Descriptor[];
}

const ACCEPTED_TYPES = [...MANIFEST_MEDIA_TYPES, ...INDEX_MEDIA_TYPES];

/**
 * Reads manifest bytes and checks what the OCI image spec v1.1 and Docker's schema 2
 * require of them: `schemaVersion` 2, a known media type that agrees with the
 * Content-Type it was pushed with, and well-formed sha256 descriptors. Throws
 * MANIFEST_INVALID naming the first problem.
 */
export function parseManifest(bytes: Buffer, contentType?: string): ManifestDocument {
  let document: unknown;
  try {
    document = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid('the body is not JSON');
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) throw invalid('the body is not a JSON object');
  const fields = document as Record<string, unknown>;
  if (fields.schemaVersion !== 2) throw invalid('schemaVersion must be 2 (Docker schema 1 manifests are not supported)');

  const mediaType = manifestMediaType(fields, normaliseContentType(contentType));
  const kind = INDEX_MEDIA_TYPES.includes(mediaType) ? 'index' : 'manifest';
  if (kind === 'index') {
    const manifests = descriptorList(fields.manifests, 'manifests');
    return { mediaType, kind, references: manifests, manifests };
  }

  const config = readDescriptor(fields.config, 'config');
  const layers = descriptorList(fields.layers, 'layers');
  if (fields.subject !== undefined) readDescriptor(fields.subject, 'subject');
  return { mediaType, kind, references: [config, ...layers], manifests: [] };
}

/**
 * Reads stored bytes back as a manifest, or returns null for a blob that is not one (a
 * layer, a config, a build context), so that such a blob is never served as a manifest.
 */
export function readStoredManifest(bytes: Buffer): ManifestDocument | null {
  try {
    return parseManifest(bytes);
  } catch {
    return null;
  }
}

function manifestMediaType(fields: Record<string, unknown>, contentType: string | undefined): string {
  const declared = typeof fields.mediaType === 'string' ? fields.mediaType : undefined;
  if (declared !== undefined && !ACCEPTED_TYPES.includes(declared)) throw invalid(`media type ${declared} is not an image manifest or index`);
  if (declared !== undefined && contentType !== undefined && ACCEPTED_TYPES.includes(contentType) && contentType !== declared) {
    throw invalid(`its mediaType ${declared} differs from the Content-Type ${contentType}`);
  }
  if (declared !== undefined) return declared;
  if (contentType !== undefined && ACCEPTED_TYPES.includes(contentType)) return contentType;

  // The OCI image spec allows a missing mediaType, so the fields distinguish a manifest from an index.
  if (Array.isArray(fields.manifests)) return MediaType.ociIndex;
  if (fields.config !== undefined) return MediaType.ociManifest;
  throw invalid('it has neither a config nor a manifests list, and no media type');
}

function descriptorList(value: unknown, field: string): Descriptor[] {
  if (!Array.isArray(value)) throw invalid(`${field} must be an array of descriptors`);
  return value.map((entry, index) => readDescriptor(entry, `${field}[${index}]`));
}

function readDescriptor(value: unknown, field: string): Descriptor {
  if (typeof value !== 'object' || value === null) throw invalid(`${field} must be a descriptor object`);
  const descriptor = value as Record<string, unknown>;
  if (typeof descriptor.mediaType !== 'string' || descriptor.mediaType === '') throw invalid(`${field}.mediaType must be a non-empty string`);
  if (typeof descriptor.digest !== 'string' || !isDigest(descriptor.digest)) {
    throw invalid(`${field}.digest must be "sha256:" and 64 lowercase hex digits (other algorithms are not supported)`);
  }
  if (typeof descriptor.size !== 'number' || !Number.isSafeInteger(descriptor.size) || descriptor.size < 0) {
    throw invalid(`${field}.size must be a whole number of bytes`);
  }
  return value as Descriptor;
}

/** Strips parameters such as `; charset=utf-8` from a Content-Type. */
function normaliseContentType(value: string | undefined): string | undefined {
  const type = value?.split(';')[0]?.trim().toLowerCase();
  return type ? type : undefined;
}

function invalid(reason: string): RegistryError {
  return new RegistryError('MANIFEST_INVALID', `The manifest is invalid: ${reason}.`, { detail: { reason } });
}
