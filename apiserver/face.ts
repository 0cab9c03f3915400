// The API server as a master's ApiFace: what `flotilla master` plugs into the store's master.

import { readFileSync } from 'node:fs';
import { systemClock } from '../raft/driver/raft-node.js';
import type { Backend } from '../store/backend.js';
import type { Logger } from '../store/logger.js';
import type { ApiFace } from '../store/server.js';
import { servedKinds } from './served-kinds.js';
import { ApiServer } from './service.js';

/** Lines an API token file may hold. */
export const MAX_API_TOKENS = 10_000;

export class ApiTokenFileError extends Error {
  override readonly name = 'ApiTokenFileError';
}

/**
 * Tokens from a file (one per line: TOKEN [USER]; blank lines and # comments skipped) and/or one
 * from the environment (user "admin"). Undefined when neither is given: the API is open.
 */
export function readApiTokens(file: string | undefined, envToken: string | undefined): ReadonlyMap<string, string> | undefined {
  if (file === undefined && (envToken === undefined || envToken === '')) return undefined;
  const tokens = new Map<string, string>();
  if (envToken !== undefined && envToken !== '') tokens.set(envToken, 'admin');
  if (file !== undefined) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      const text = line.trim();
      if (text === '' || text.startsWith('#')) return;
      const [token, user, ...rest] = text.split(/\s+/);
      if (token === undefined || token.length < 16 || rest.length > 0) {
        throw new ApiTokenFileError(`${file}:${i + 1}: expected "TOKEN [USER]" with a token of at least 16 characters`);
      }
      tokens.set(token, user ?? 'admin');
    });
    if (tokens.size > MAX_API_TOKENS) throw new ApiTokenFileError(`${file}: more than ${MAX_API_TOKENS} tokens`);
    if (tokens.size === 0) throw new ApiTokenFileError(`${file}: no tokens`);
  }
  return tokens;
}

export async function startApiFace(
  backend: Pick<Backend, 'propose' | 'proposeTxn' | 'range' | 'watch' | 'header'>,
  opts: { masterName: string; logger: Logger; tokens: ReadonlyMap<string, string> | undefined },
): Promise<ApiFace & { server: ApiServer }> {
  const server = new ApiServer({ backend, kinds: servedKinds(), tokens: opts.tokens, masterName: opts.masterName, logger: opts.logger, clock: systemClock });
  server.start();
  return {
    server,
    handlesUpgrade: (req) => server.handlesUpgrade(req),
    handleUpgrade: (req, socket, head) => server.handleUpgrade(req, socket, head),
    close: () => server.close(),
  };
}
