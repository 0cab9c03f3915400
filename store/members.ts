// Member names, ids and peer lists as operators write them: `m1=127.0.0.1:7001,m2=...`.

import type { NodeId } from '../raft/core/types.js';

export class MemberConfigError extends Error {
  override readonly name = 'MemberConfigError';
}

export interface PeerSpec {
  readonly name: string;
  readonly id: NodeId;
  /** host:port of the member's --listen address. */
  readonly address: string;
}

const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function validateMemberName(name: string): string {
  if (!NAME_PATTERN.test(name)) {
    throw new MemberConfigError(`member name '${name}' must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit`);
  }
  return name;
}

/**
 * A member's id, from its peer address (FNV-1a, 32 bits, never 0). Every master derives the same
 * id for a member, and so does an etcd client's MemberAdd, which names only peer URLs (as in etcd,
 * the name becomes known when the member starts).
 */
export function memberIdFromAddress(address: string): NodeId {
  let h = 0x811c9dc5;
  for (const ch of new TextEncoder().encode(address.trim().toLowerCase())) {
    h ^= ch;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h === 0 ? 1 : h;
}

export function parseHostPort(text: string, what: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text.trim());
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new MemberConfigError(`${what} '${text}' is not HOST:PORT with a port from 1 to 65535`);
  }
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** Parses `m1=HOST:PORT,m2=HOST:PORT,...`; names and addresses must be distinct. */
export function parsePeers(text: string): PeerSpec[] {
  const peers: PeerSpec[] = [];
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p.length > 0)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new MemberConfigError(`--peers entry '${part}' is not NAME=HOST:PORT`);
    const name = validateMemberName(part.slice(0, eq));
    const address = part.slice(eq + 1);
    parseHostPort(address, `--peers address of ${name}`);
    peers.push({ name, id: memberIdFromAddress(address), address });
  }
  if (peers.length === 0) throw new MemberConfigError('--peers names no member');
  const names = new Set(peers.map((p) => p.name));
  const ids = new Set(peers.map((p) => p.id));
  const addrs = new Set(peers.map((p) => p.address));
  if (names.size !== peers.length) throw new MemberConfigError('--peers names a member twice');
  if (addrs.size !== peers.length) throw new MemberConfigError('--peers gives two members the same address');
  if (ids.size !== peers.length) throw new MemberConfigError('two member addresses hash to the same id; change a port');
  return peers;
}

/** The opaque context a conf change carries for a member: its name and peer address. */
export interface MemberContext {
  readonly name: string;
  readonly address: string;
}

export function encodeMemberContext(c: MemberContext): string {
  return JSON.stringify({ name: c.name, address: c.address });
}

export function decodeMemberContext(text: string): MemberContext | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null) return undefined;
    const r = v as Record<string, unknown>;
    if (typeof r['name'] !== 'string' || typeof r['address'] !== 'string') return undefined;
    return { name: r['name'], address: r['address'] };
  } catch {
    return undefined;
  }
}
