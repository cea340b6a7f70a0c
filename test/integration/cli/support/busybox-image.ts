import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { writeLayer } from '../../../../shared/layers/layer-writer.ts';
import type { SlipwayServer } from '../../../support/slipway-server.ts';
import { makeBusyboxRoot } from '../../../support/rootfs.ts';
import { writeOciLayout } from '../../images/support/oci-layout.ts';

const execFileAsync = promisify(execFile);

/** The reference that `importBusyboxImage` tags; Dockerfiles of the CLI and git tests start FROM it. */
export const BUSYBOX_IMAGE = 'slipway-test/busybox:1';

/**
 * Makes a one-layer busybox image (see makeBusyboxRoot) and loads it into a running
 * server through `POST /v1/images/import`, as `docker load` would. Takes about a second,
 * so tests that build and run apps need no Debian root.
 */
export async function importBusyboxImage(server: SlipwayServer, reference = BUSYBOX_IMAGE): Promise<string> {
  const scratch = await mkdtemp(path.join(tmpdir(), 'slipway-busybox-image-'));
  try {
    const root = path.join(scratch, 'root');
    await makeBusyboxRoot(root);
    const layerFile = path.join(scratch, 'layer.tar.gz');
    const layer = await writeLayer(root, layerFile, { overlay: false, sourceDateEpoch: 0 });

    const layout = path.join(scratch, 'layout');
    await writeOciLayout(layout, [{ ...layer, file: layerFile }], reference.split(':')[1] ?? 'latest');
    const archiveFile = path.join(scratch, 'image.tar');
    await execFileAsync('tar', ['-C', layout, '-cf', archiveFile, '.']);

    const response = await fetch(`http://127.0.0.1:${server.apiPort}/v1/images/import?ref=${encodeURIComponent(reference)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/x-tar' },
      body: await readFile(archiveFile),
    });
    if (response.status !== 201) throw new Error(`importing ${reference} failed: HTTP ${response.status} ${await response.text()}`);
    return ((await response.json()) as { digest: string }).digest;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * A Dockerfile for a tiny web app on the busybox image: busybox httpd serves /www on
 * port 8080. `extra` lines go before CMD.
 */
export function busyboxWebDockerfile(extra: string[] = []): string {
  return [`FROM ${BUSYBOX_IMAGE}`, 'COPY index.html /www/index.html', ...extra, 'EXPOSE 8080', 'CMD ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]', ''].join('\n');
}
