import { ValidationError } from '../errors.ts';

export const ACCEPTED_ARCHIVES =
  'a tar written by `docker save` (with manifest.json) or an OCI image layout archive such as `skopeo copy … oci-archive:` writes (with oci-layout and index.json), plain or gzip-compressed';

export class ImageArchiveInvalidError extends ValidationError {
  constructor(reason: string, options: { cause?: unknown } = {}) {
    super('IMAGE_ARCHIVE_INVALID', `The upload is not an image archive Slipway can load (${reason}): send ${ACCEPTED_ARCHIVES}.`, options);
  }
}
