// The agent's HTTP endpoint, as the kubelet's: `GET /logs/NAMESPACE/POD/CONTAINER?follow=1&previous=1`
// streams a container's output; `GET /healthz` answers ok. Requests carry `Authorization: Bearer
// TOKEN`: the agent's own token, or any token the API accepts (checked with the API, as a kubelet
// checks with a TokenReview) — the masters stream logs to their callers with the caller's token.
// The masters find this endpoint in the Node's annotation.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';

/** How long a token the API accepted is trusted before it is checked again. */
export const TOKEN_REVIEW_TTL_MS = 60_000;
/** Tokens remembered at once; past it the memory is cleared. */
export const MAX_REVIEWED_TOKENS = 1_000;

/** A verifyToken that asks the API once per token per TOKEN_REVIEW_TTL_MS. */
export function cachedTokenReview(review: (token: string) => Promise<boolean>, now: () => number = () => Date.now()): (token: string) => Promise<boolean> {
  const accepted = new Map<string, number>();
  return async (token) => {
    const until = accepted.get(token);
    if (until !== undefined && until > now()) return true;
    if (!(await review(token))) return false;
    if (accepted.size >= MAX_REVIEWED_TOKENS) accepted.clear();
    accepted.set(token, now() + TOKEN_REVIEW_TTL_MS);
    return true;
  };
}

/** Log streams one agent serves at once; more get 503. */
export const MAX_LOG_STREAMS = 64;

export interface LogSource {
  /** The container's output, or undefined if the agent has no such pod or container. */
  logs(namespace: string, pod: string, container: string, opts: { follow: boolean; previous: boolean; signal: AbortSignal }): AsyncIterable<Uint8Array> | undefined;
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.startsWith('Bearer ') === true ? header.slice('Bearer '.length) : '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

export class AgentHttpServer {
  private server: Server | undefined;
  private streams = 0;

  constructor(
    private readonly source: LogSource,
    private readonly token: string | undefined,
    /** Whether the API accepts a token that is not the agent's own; absent: only the agent's own. */
    private readonly verifyToken?: (token: string) => Promise<boolean>,
  ) {}

  private async authorized(header: string | undefined): Promise<boolean> {
    if (this.token === undefined) return true;
    if (tokenMatches(header, this.token)) return true;
    const given = header?.startsWith('Bearer ') === true ? header.slice('Bearer '.length).trim() : '';
    return given !== '' && this.verifyToken !== undefined && (await this.verifyToken(given).catch(() => false));
  }

  /** Resolves with the bound HOST:PORT (port 0 picks one). */
  async listen(host: string, port: number): Promise<string> {
    const server = createServer((req, res) => void this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const addr = server.address() as AddressInfo;
    return `${host}:${addr.port}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    if (req.method !== 'GET') return this.fail(res, 405, 'only GET');
    if (url.pathname === '/healthz') return this.fail(res, 200, 'ok');
    if (!(await this.authorized(req.headers.authorization))) return this.fail(res, 401, 'a valid bearer token is required');
    const m = /^\/logs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (m === null) return this.fail(res, 404, 'try /logs/NAMESPACE/POD/CONTAINER');
    const [namespace, pod, container] = [decodeURIComponent(m[1] ?? ''), decodeURIComponent(m[2] ?? ''), decodeURIComponent(m[3] ?? '')];
    if (this.streams >= MAX_LOG_STREAMS) return this.fail(res, 503, `${MAX_LOG_STREAMS} log streams are open`);
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const follow = url.searchParams.get('follow') === '1' || url.searchParams.get('follow') === 'true';
    const previous = url.searchParams.get('previous') === '1' || url.searchParams.get('previous') === 'true';
    let stream: AsyncIterable<Uint8Array> | undefined;
    try {
      stream = this.source.logs(namespace, pod, container, { follow, previous, signal: abort.signal });
    } catch (err) {
      return this.fail(res, 404, (err as Error).message);
    }
    if (stream === undefined) return this.fail(res, 404, `no container ${container} of pod ${namespace}/${pod} on this node${previous ? ' (previous)' : ''}`);
    this.streams++;
    try {
      let headed = false;
      for await (const chunk of stream) {
        if (!headed) {
          res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
          headed = true;
        }
        if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
        if (abort.signal.aborted) break;
      }
      if (!headed) res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end();
    } catch (err) {
      if (!res.headersSent) this.fail(res, 404, (err as Error).message);
      else res.destroy();
    } finally {
      this.streams--;
    }
  }

  private fail(res: ServerResponse, code: number, message: string): void {
    res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`${message}\n`);
  }

  async close(): Promise<void> {
    const s = this.server;
    if (s === undefined) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
