// How CLI commands find the cluster: --server HOST:PORT,... and --token, or FLOTILLA_SERVER and
// FLOTILLA_TOKEN, or the lab `flotilla up` made (its lab.json and api-token in --dir).

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ApiClient } from '../client/api-client.js';
import { DEFAULT_LAB_DIR, readLab } from './lab.js';

export const API_TOKEN_FILE = 'api-token';

export interface ConnectFlags {
  readonly server?: string | undefined;
  readonly token?: string | undefined;
  readonly dir?: string | undefined;
}

export const CONNECT_OPTIONS = {
  server: { type: 'string' },
  token: { type: 'string' },
  dir: { type: 'string', default: DEFAULT_LAB_DIR },
} as const;

/** The lab's API token: the first word of its api-token file (TOKEN [USER]), if there is one. */
export function readLabApiToken(labDir: string): string | undefined {
  const file = join(labDir, API_TOKEN_FILE);
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split(/\s+/)[0] : undefined;
}

export class NoClusterError extends Error {
  override readonly name = 'NoClusterError';
}

export function clusterEndpoints(flags: ConnectFlags): { endpoints: string[]; token: string | undefined } {
  const server = flags.server ?? process.env['FLOTILLA_SERVER'];
  const dir = flags.dir ?? DEFAULT_LAB_DIR;
  let token = flags.token ?? process.env['FLOTILLA_TOKEN'];
  let endpoints: string[] | undefined = server?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (endpoints === undefined) {
    const lab = readLab(dir);
    if (lab === undefined) throw new NoClusterError(`no cluster: pass --server HOST:PORT,... (or set FLOTILLA_SERVER), or run \`flotilla up\` (no lab in ${resolve(dir)})`);
    endpoints = lab.members.map((m) => m.listen);
    token ??= readLabApiToken(lab.dir);
  }
  for (const e of endpoints) if (!/^[^\s:]+:\d{1,5}$/.test(e)) throw new NoClusterError(`--server: '${e}' is not HOST:PORT`);
  return { endpoints, token };
}

export function connect(flags: ConnectFlags): ApiClient {
  const { endpoints, token } = clusterEndpoints(flags);
  return new ApiClient({ endpoints, ...(token !== undefined ? { token } : {}) });
}
