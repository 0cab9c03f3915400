// Loads etcd's v3 API (proto/etcd/*.proto) with @grpc/proto-loader. The options fix how messages
// look in JavaScript, and the face's readers and writers (wire.ts) rely on them:
// - keepCase: fields keep etcd's proto names (range_end, create_revision, TTL, peerURLs);
// - longs: String: int64 and uint64 arrive as decimal strings, so member ids and cluster ids (full
//   uint64) and client-chosen lease ids (full int64) arrive exactly; outgoing numbers and strings are
//   both accepted;
// - enums: String: enum values arrive as their names ('ASCEND'), or as a number not in the enum;
// - defaults: absent scalars arrive as their zero values (proto3), absent messages as null;
// - oneofs: a oneof names its set member in a virtual field (RequestOp.request = 'request_put').

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { type Options, type PackageDefinition, loadSync } from '@grpc/proto-loader';

export const ETCD_PROTO_LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** Where the .proto files may be, relative to this module: from the sources, and from dist/. */
const PROTO_DIR_CANDIDATES = ['../../proto/etcd/', '../../../proto/etcd/'];

export const ETCD_RPC_PROTO = 'rpc.proto';

/** The gRPC package: its name is part of every method path (/etcdserverpb.KV/Range). */
export const ETCD_PACKAGE = 'etcdserverpb';

export function etcdProtoDir(): string {
  for (const candidate of PROTO_DIR_CANDIDATES) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(`${dir}${ETCD_RPC_PROTO}`)) return dir;
  }
  throw new Error(`etcd .proto files not found (looked in ${PROTO_DIR_CANDIDATES.join(', ')} from ${import.meta.url})`);
}

export interface EtcdServices {
  readonly KV: ServiceDefinition;
  readonly Watch: ServiceDefinition;
  readonly Lease: ServiceDefinition;
  readonly Cluster: ServiceDefinition;
  readonly Maintenance: ServiceDefinition;
}

export const ETCD_SERVICE_NAMES = ['KV', 'Watch', 'Lease', 'Cluster', 'Maintenance'] as const;

let loaded: { definition: PackageDefinition; services: EtcdServices } | undefined;

/** The package definition (for clients in tests, and grpc.loadPackageDefinition). Loaded once. */
export function etcdPackageDefinition(): PackageDefinition {
  return load().definition;
}

export function etcdServices(): EtcdServices {
  return load().services;
}

function load(): { definition: PackageDefinition; services: EtcdServices } {
  if (loaded !== undefined) return loaded;
  const definition = loadSync(ETCD_RPC_PROTO, { ...ETCD_PROTO_LOADER_OPTIONS, includeDirs: [etcdProtoDir()] });
  const service = (name: (typeof ETCD_SERVICE_NAMES)[number]): ServiceDefinition => {
    const found = definition[`${ETCD_PACKAGE}.${name}`];
    // A message or enum definition carries its descriptor under `format`; a service does not.
    if (found === undefined || 'format' in found) throw new Error(`${ETCD_PACKAGE}.${name} is not a service in ${ETCD_RPC_PROTO}`);
    return found as ServiceDefinition;
  };
  loaded = {
    definition,
    services: {
      KV: service('KV'),
      Watch: service('Watch'),
      Lease: service('Lease'),
      Cluster: service('Cluster'),
      Maintenance: service('Maintenance'),
    },
  };
  return loaded;
}
