import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ValidationError } from '../errors.ts';
import type { Descriptor } from '../oci/image-types.ts';
import { MediaType } from '../oci/media-types.ts';

export type LayerCompression = 'gzip' | 'zstd' | 'none';

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** Recognizes a layer's compression from its first bytes, whatever its media type claims. */
export function detectCompression(head: Buffer): LayerCompression {
  if (head.subarray(0, GZIP_MAGIC.length).equals(GZIP_MAGIC)) return 'gzip';
  if (head.subarray(0, ZSTD_MAGIC.length).equals(ZSTD_MAGIC)) return 'zstd';
  return 'none';
}

export class UnsupportedCompressionError extends ValidationError {
  constructor(subject: string, compression: string) {
    super(
      'LAYER_COMPRESSION_UNSUPPORTED',
      `${subject} is ${compression}-compressed, which Slipway does not support: use an image whose layers are gzip-compressed or uncompressed tar.`,
      { details: { compression } },
    );
  }
}

/**
 * Returns the uncompressed tar stream of a layer or archive: gunzipped when it starts
 * with the gzip magic, as it is otherwise. zstd fails with LAYER_COMPRESSION_UNSUPPORTED
 * because Node 20's zlib has no zstd decoder.
 */
export async function openUncompressed(source: Readable, subject: string): Promise<Readable> {
  const { head, stream } = await peek(source, ZSTD_MAGIC.length);
  const compression = detectCompression(head);
  if (compression === 'zstd') {
    source.destroy();
    throw new UnsupportedCompressionError(subject, 'zstd');
  }
  if (compression === 'none') return stream;

  const gunzip = createGunzip();
  stream.on('error', (error) => gunzip.destroy(error));
  return stream.pipe(gunzip);
}

/** Reads at least `length` bytes (fewer at the end of the stream) and puts them back. */
async function peek(source: Readable, length: number): Promise<{ head: Buffer; stream: Readable }> {
  const chunks: Buffer[] = [];
  let size = 0;

  return new Promise((resolve, reject) => {
    const finish = (ended: boolean) => {
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
      source.pause();
      const head = Buffer.concat(chunks);
      if (ended) {
        resolve({ head, stream: Readable.from(head.length > 0 ? [head] : []) });
        return;
      }
      source.unshift(head);
      resolve({ head, stream: source });
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= length) finish(false);
    };
    const onEnd = () => finish(true);
    const onError = (error: Error) => reject(error);

    source.on('data', onData);
    source.on('end', onEnd);
    source.on('error', onError);
  });
}

/** Layer media types that Slipway unpacks: gzip-compressed or plain tar, OCI or Docker. */
const SUPPORTED_LAYER_MEDIA_TYPES = new Set<string>([
  MediaType.ociLayerGzip,
  MediaType.ociLayerTar,
  MediaType.dockerLayerGzip,
  'application/vnd.docker.image.rootfs.diff.tar',
]);

/**
 * Fails unless a layer descriptor's media type is one Slipway can unpack. zstd layers get
 * LAYER_COMPRESSION_UNSUPPORTED, and foreign or non-distributable layers (Windows base
 * layers that registries do not serve) get LAYER_MEDIA_TYPE_UNSUPPORTED.
 */
export function assertSupportedLayer(descriptor: Descriptor, subject: string): void {
  if (SUPPORTED_LAYER_MEDIA_TYPES.has(descriptor.mediaType)) return;
  if (descriptor.mediaType.includes('zstd')) throw new UnsupportedCompressionError(`Layer ${descriptor.digest} of ${subject}`, 'zstd');

  throw new ValidationError(
    'LAYER_MEDIA_TYPE_UNSUPPORTED',
    `Layer ${descriptor.digest} of ${subject} has the media type ${descriptor.mediaType}, which Slipway cannot unpack: use a Linux image with tar or tar+gzip layers.`,
    { details: { digest: descriptor.digest, mediaType: descriptor.mediaType } },
  );
}
