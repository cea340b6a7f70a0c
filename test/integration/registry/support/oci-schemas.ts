import { Ajv, type ValidateFunction } from 'ajv';

/**
 * JSON schemas of the OCI image spec v1.1 documents that the registry serves, written
 * here from the spec's field descriptions (descriptor.md, manifest.md, image-index.md,
 * config.md). Fields the spec leaves open, such as Docker's Healthcheck, pass through.
 */

const MEDIA_TYPE = '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$';
/** descriptor.md: `algorithm ":" encoded`, with the registered sha256 form checked strictly below. */
const DIGEST = '^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$';
const SHA256_DIGEST = '^sha256:[a-f0-9]{64}$';
/** RFC 3339 date-time, which `created` fields use. */
const DATE_TIME = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$';

const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
const emptyObjectMap = { type: 'object', additionalProperties: { type: 'object' } };
const stringList = { type: 'array', items: { type: 'string' } };

const platform = {
  type: 'object',
  required: ['architecture', 'os'],
  properties: {
    architecture: { type: 'string' },
    os: { type: 'string' },
    'os.version': { type: 'string' },
    'os.features': stringList,
    variant: { type: 'string' },
    features: stringList,
  },
};

const descriptor = {
  type: 'object',
  required: ['mediaType', 'digest', 'size'],
  properties: {
    mediaType: { type: 'string', pattern: MEDIA_TYPE },
    digest: { type: 'string', pattern: DIGEST, if: { pattern: '^sha256:' }, then: { pattern: SHA256_DIGEST } },
    size: { type: 'integer', minimum: 0 },
    urls: stringList,
    annotations: stringMap,
    data: { type: 'string', contentEncoding: 'base64' },
    artifactType: { type: 'string', pattern: MEDIA_TYPE },
    platform,
  },
};

export const manifestSchema = {
  type: 'object',
  required: ['schemaVersion', 'config', 'layers'],
  properties: {
    schemaVersion: { const: 2 },
    mediaType: { const: 'application/vnd.oci.image.manifest.v1+json' },
    artifactType: { type: 'string', pattern: MEDIA_TYPE },
    config: descriptor,
    layers: { type: 'array', items: descriptor },
    subject: descriptor,
    annotations: stringMap,
  },
};

export const indexSchema = {
  type: 'object',
  required: ['schemaVersion', 'manifests'],
  properties: {
    schemaVersion: { const: 2 },
    mediaType: { const: 'application/vnd.oci.image.index.v1+json' },
    artifactType: { type: 'string', pattern: MEDIA_TYPE },
    manifests: { type: 'array', items: descriptor },
    subject: descriptor,
    annotations: stringMap,
  },
};

export const configSchema = {
  type: 'object',
  required: ['architecture', 'os', 'rootfs'],
  properties: {
    created: { type: 'string', pattern: DATE_TIME },
    author: { type: 'string' },
    architecture: { type: 'string' },
    os: { type: 'string' },
    'os.version': { type: 'string' },
    'os.features': stringList,
    variant: { type: 'string' },
    config: {
      type: 'object',
      properties: {
        User: { type: 'string' },
        ExposedPorts: emptyObjectMap,
        Env: { type: 'array', items: { type: 'string', pattern: '^[^=]+=' } },
        Entrypoint: { type: ['array', 'null'], items: { type: 'string' } },
        Cmd: { type: ['array', 'null'], items: { type: 'string' } },
        Volumes: emptyObjectMap,
        WorkingDir: { type: 'string' },
        Labels: stringMap,
        StopSignal: { type: 'string' },
        ArgsEscaped: { type: 'boolean' },
      },
    },
    rootfs: {
      type: 'object',
      required: ['type', 'diff_ids'],
      properties: {
        type: { const: 'layers' },
        diff_ids: { type: 'array', items: { type: 'string', pattern: SHA256_DIGEST } },
      },
    },
    history: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          created: { type: 'string', pattern: DATE_TIME },
          author: { type: 'string' },
          created_by: { type: 'string' },
          comment: { type: 'string' },
          empty_layer: { type: 'boolean' },
        },
      },
    },
  },
};

export interface OciValidators {
  manifest: ValidateFunction;
  index: ValidateFunction;
  config: ValidateFunction;
}

export function ociValidators(): OciValidators {
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
  return { manifest: ajv.compile(manifestSchema), index: ajv.compile(indexSchema), config: ajv.compile(configSchema) };
}

/** Lists the validation errors of a document as readable lines, or nothing when it is valid. */
export function schemaErrors(validate: ValidateFunction, document: unknown): string[] {
  if (validate(document)) return [];
  return (validate.errors ?? []).map((error) => `${error.instancePath || '/'} ${error.message ?? ''}`.trim());
}
