// Requests only the leader can answer (lease keep-alive and time-to-live: the leader keeps lease
// deadlines), forwarded from a follower to the leader's --listen address over HTTP, as etcd
// forwards them. Authenticated with the cluster token; every answer is validated.

import { request } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { NoLeaderError, NotLeaderError, RequestTimeoutError, type LeaseTimeToLive } from './backend.js';
import { LeaseNotFoundError } from './mvcc/errors.js';

/** How long a forwarded request may take. */
export const FORWARD_TIMEOUT_MS = 2_000;
/** Bound on a forwarded answer's size (a time-to-live with keys can list many). */
export const MAX_FORWARD_RESPONSE_BYTES = 4 * 1024 * 1024;

export const LEASE_KEEPALIVE_PATH = '/internal/lease/keepalive';
export const LEASE_TTL_PATH = '/internal/lease/ttl';

export interface LeaderForwarder {
  keepAlive(leaderAddress: string, id: number): Promise<number>;
  timeToLive(leaderAddress: string, id: number, withKeys: boolean): Promise<LeaseTimeToLive | undefined>;
}

/** Whether an internal request carries the cluster token (always true when none is configured). */
export function internalRequestAuthorized(header: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return true;
  const expected = Buffer.from(`Bearer ${token}`);
  const given = Buffer.from(header ?? '');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function call(address: string, path: string, token: string | undefined): Promise<{ status: number; body: string }> {
  const at = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: address.slice(0, at).replace(/^\[|\]$/g, ''),
        port: Number(address.slice(at + 1)),
        path,
        method: 'POST',
        timeout: FORWARD_TIMEOUT_MS,
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
          if (body.length > MAX_FORWARD_RESPONSE_BYTES) req.destroy(new Error(`answer from ${address} exceeds ${MAX_FORWARD_RESPONSE_BYTES} bytes`));
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new RequestTimeoutError(FORWARD_TIMEOUT_MS)));
    req.on('error', reject);
    req.end();
  });
}

/** Maps the leader's answer back to the errors the etcd face knows. */
function answerError(status: number, body: string, id: number): Error {
  if (status === 404) return new LeaseNotFoundError(id);
  if (status === 421) return new NotLeaderError();
  if (status === 503) return new NoLeaderError();
  return new Error(`the leader answered ${status}: ${body.slice(0, 200)}`);
}

export function httpLeaderForwarder(token: string | undefined): LeaderForwarder {
  return {
    async keepAlive(address, id) {
      const { status, body } = await call(address, `${LEASE_KEEPALIVE_PATH}?id=${id}`, token);
      if (status !== 200) throw answerError(status, body, id);
      const v = JSON.parse(body) as { ttl?: unknown };
      if (typeof v.ttl !== 'number' || !Number.isSafeInteger(v.ttl) || v.ttl < 0) throw new Error(`the leader's keep-alive answer has no valid ttl: ${body.slice(0, 200)}`);
      return v.ttl;
    },
    async timeToLive(address, id, withKeys) {
      const { status, body } = await call(address, `${LEASE_TTL_PATH}?id=${id}&keys=${withKeys ? 1 : 0}`, token);
      if (status === 404) return undefined;
      if (status !== 200) throw answerError(status, body, id);
      const v = JSON.parse(body) as { remainingSeconds?: unknown; grantedTtl?: unknown; keys?: unknown };
      if (typeof v.remainingSeconds !== 'number' || typeof v.grantedTtl !== 'number' || !Array.isArray(v.keys) || !v.keys.every((k) => typeof k === 'string')) {
        throw new Error(`the leader's time-to-live answer is malformed: ${body.slice(0, 200)}`);
      }
      return { id, remainingSeconds: v.remainingSeconds, grantedTtl: v.grantedTtl, keys: (v.keys as string[]).map((k) => Buffer.from(k, 'base64')) };
    },
  };
}
