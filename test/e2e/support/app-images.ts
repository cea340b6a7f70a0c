import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { writeLayer } from '../../../shared/layers/layer-writer.ts';
import type { ImageConfig, ImageManifest, ImageRunConfig } from '../../../shared/oci/image-types.ts';
import { MediaType } from '../../../shared/oci/media-types.ts';
import { writeBlob } from '../../integration/images/support/oci-layout.ts';
import { makeBusyboxRoot } from '../../support/rootfs.ts';
import type { SlipwayServer } from '../../support/slipway-server.ts';

const execFileAsync = promisify(execFile);

export interface AppImage {
  /** Files to write into the root, by container path. */
  files?: Record<string, string>;
  /** Container paths of files that get mode 0755, such as scripts and CGI programs. */
  executables?: string[];
  /** Container paths that are replaced by a symbolic link to the given target. */
  symlinks?: Record<string, string>;
  config: ImageRunConfig;
}

/**
 * Makes a one-layer image of a busybox root with extra files and the given run config,
 * and loads it into the server through `POST /v1/images/import` as an OCI layout tarball.
 * Returns the manifest digest. About a second per image, without Debian.
 */
export async function importAppImage(server: SlipwayServer, reference: string, image: AppImage): Promise<string> {
  const scratch = await mkdtemp(path.join(tmpdir(), 'slipway-e2e-image-'));
  try {
    const root = path.join(scratch, 'root');
    await makeBusyboxRoot(root);
    for (const [file, content] of Object.entries(image.files ?? {})) {
      await mkdir(path.dirname(path.join(root, file)), { recursive: true });
      await writeFile(path.join(root, file), content);
    }
    for (const file of image.executables ?? []) await chmod(path.join(root, file), 0o755);
    for (const [link, target] of Object.entries(image.symlinks ?? {})) {
      await rm(path.join(root, link), { recursive: true, force: true });
      await symlink(target, path.join(root, link));
    }

    const layerFile = path.join(scratch, 'layer.tar.gz');
    const layer = await writeLayer(root, layerFile, { overlay: false, sourceDateEpoch: 0 });
    const layout = path.join(scratch, 'layout');
    await mkdir(path.join(layout, 'blobs', 'sha256'), { recursive: true });
    await writeFile(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(path.join(layout, 'blobs', 'sha256', layer.digest.slice('sha256:'.length)), await readFile(layerFile));

    const config: ImageConfig = { architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], ...image.config }, rootfs: { type: 'layers', diff_ids: [layer.diffId] } };
    const configDescriptor = await writeBlob(layout, Buffer.from(JSON.stringify(config)), MediaType.ociConfig);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: configDescriptor,
      layers: [{ mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size }],
    };
    const manifestDescriptor = await writeBlob(layout, Buffer.from(JSON.stringify(manifest)), MediaType.ociManifest);
    const tag = reference.split(':')[1] ?? 'latest';
    const index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ ...manifestDescriptor, annotations: { 'org.opencontainers.image.ref.name': tag } }] };
    await writeFile(path.join(layout, 'index.json'), JSON.stringify(index));

    const archive = path.join(scratch, 'image.tar');
    await execFileAsync('tar', ['-C', layout, '-cf', archive, '.']);
    const response = await fetch(`http://127.0.0.1:${server.apiPort}/v1/images/import?ref=${encodeURIComponent(reference)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/x-tar' },
      body: await readFile(archive),
    });
    if (response.status !== 201) throw new Error(`importing ${reference} failed: HTTP ${response.status} ${await response.text()}`);
    return ((await response.json()) as { digest: string }).digest;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

export interface DeployOutcome {
  status: string;
  error?: { code: string; message: string };
}

/** Releases an image on an app with `token` and waits until the deploy succeeded or failed. */
export async function releaseImage(server: SlipwayServer, token: string, app: string, reference: string): Promise<DeployOutcome> {
  const call = (method: string, url: string, json?: unknown) =>
    fetch(`http://127.0.0.1:${server.apiPort}${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
      body: json === undefined ? undefined : JSON.stringify(json),
    });

  const started = await call('POST', `/v1/apps/${app}/releases`, { image: reference });
  if (started.status !== 202) throw new Error(`releasing ${reference} on ${app} failed: HTTP ${started.status} ${await started.text()}`);
  const { id } = (await started.json()) as { id: string };

  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const deploy = (await (await call('GET', `/v1/deploys/${id}`)).json()) as DeployOutcome;
    if (deploy.status === 'succeeded' || deploy.status === 'failed') return deploy;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`the deploy of ${reference} on ${app} did not end within 120 s`);
}
