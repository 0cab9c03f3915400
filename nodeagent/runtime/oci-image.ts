// Builds a minimal OCI image as an OCI layout archive: one uncompressed layer holding a static
// busybox and its applets as symlinks. Tests and `flotilla up` import it with `ctr image import`,
// so nothing needs a registry. containerd 1.6 imports a layout by name only when the archive has
// the `oci-layout` file and the index's manifest carries `io.containerd.image.name`.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeTar, type TarEntry } from './tar.js';

/** Where Debian's busybox-static puts the binary. */
export const BUSYBOX_STATIC_PATH = '/bin/busybox';

/** The image tests and `flotilla up` use unless told otherwise. */
export const BUSYBOX_IMAGE_NAME = 'flotilla.local/busybox:latest';

/** Applets linked into /bin: what pod commands, probes and tests call. */
export const DEFAULT_BUSYBOX_APPLETS: readonly string[] = [
  'sh', 'ash', 'echo', 'cat', 'sleep', 'true', 'false', 'env', 'ls', 'kill', 'nc', 'httpd', 'wget', 'head', 'tail',
  'yes', 'dd', 'grep', 'ps', 'printf', 'test', '[', 'date', 'mkdir', 'rm', 'touch', 'seq', 'wc', 'hostname', 'id',
];

const MEDIA_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MEDIA_CONFIG = 'application/vnd.oci.image.config.v1+json';
const MEDIA_LAYER = 'application/vnd.oci.image.layer.v1.tar';
const MEDIA_INDEX = 'application/vnd.oci.image.index.v1+json';

export class BusyboxNotFoundError extends Error {
  override readonly name = 'BusyboxNotFoundError';
  constructor(readonly path: string) {
    super(`no static busybox at ${path} (on Debian: apt-get install busybox-static)`);
  }
}

export interface OciImageOptions {
  /** A full reference, e.g. flotilla.local/busybox:latest. */
  readonly name?: string;
  readonly busyboxPath?: string;
  readonly applets?: readonly string[];
  /** GOARCH-style; defaults to this machine's. */
  readonly architecture?: string;
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function goArch(nodeArch: string): string {
  return nodeArch === 'x64' ? 'amd64' : nodeArch === 'ia32' ? '386' : nodeArch;
}

function blobEntry(digest: string, body: Uint8Array): TarEntry {
  return { type: 'file', name: `blobs/sha256/${digest.slice('sha256:'.length)}`, body };
}

/** The OCI layout archive's bytes, ready for `ctr image import`. */
export function buildBusyboxImageArchive(opts: OciImageOptions = {}): Buffer {
  const name = opts.name ?? BUSYBOX_IMAGE_NAME;
  const busyboxPath = opts.busyboxPath ?? BUSYBOX_STATIC_PATH;
  if (!existsSync(busyboxPath)) throw new BusyboxNotFoundError(busyboxPath);
  const busybox = readFileSync(busyboxPath);
  const architecture = opts.architecture ?? goArch(process.arch);

  const layer = writeTar([
    { type: 'dir', name: 'bin' },
    { type: 'file', name: 'bin/busybox', body: busybox, mode: 0o755 },
    ...(opts.applets ?? DEFAULT_BUSYBOX_APPLETS).map((a): TarEntry => ({ type: 'symlink', name: `bin/${a}`, target: 'busybox' })),
    { type: 'dir', name: 'tmp', mode: 0o1777 },
    { type: 'dir', name: 'etc' },
    { type: 'file', name: 'etc/passwd', body: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n') },
    { type: 'file', name: 'etc/group', body: Buffer.from('root:x:0:\nnogroup:x:65534:\n') },
    { type: 'dir', name: 'root', mode: 0o700 },
    { type: 'dir', name: 'www' },
    { type: 'file', name: 'www/index.html', body: Buffer.from('flotilla\n') },
  ]);
  const layerDigest = sha256(layer);
  const config = Buffer.from(
    JSON.stringify({
      architecture,
      os: 'linux',
      config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'], WorkingDir: '/' },
      rootfs: { type: 'layers', diff_ids: [layerDigest] },
    }),
  );
  const configDigest = sha256(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_MANIFEST,
      config: { mediaType: MEDIA_CONFIG, digest: configDigest, size: config.length },
      layers: [{ mediaType: MEDIA_LAYER, digest: layerDigest, size: layer.length }],
    }),
  );
  const manifestDigest = sha256(manifest);
  const tag = name.includes(':') && !name.slice(name.lastIndexOf(':')).includes('/') ? name.slice(name.lastIndexOf(':') + 1) : 'latest';
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_INDEX,
      manifests: [
        {
          mediaType: MEDIA_MANIFEST,
          digest: manifestDigest,
          size: manifest.length,
          platform: { architecture, os: 'linux' },
          annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
  return writeTar([
    { type: 'file', name: 'oci-layout', body: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) },
    { type: 'file', name: 'index.json', body: index },
    { type: 'dir', name: 'blobs' },
    { type: 'dir', name: 'blobs/sha256' },
    blobEntry(layerDigest, layer),
    blobEntry(configDigest, config),
    blobEntry(manifestDigest, manifest),
  ]);
}
