// `flotilla status`: each member's role, term, commit and applied index, from its /status.

import { request } from 'node:http';
import { parseArgs } from 'node:util';
import type { MasterStatusReport } from '../store/server.js';
import { DEFAULT_LAB_DIR, readLab } from './lab.js';

/** How long one member may take to answer. */
const STATUS_TIMEOUT_MS = 2_000;
/** Bound on a status answer's size. */
const MAX_STATUS_BYTES = 64 * 1024;

export function fetchStatus(hostPort: string, opts: { gc?: boolean } = {}): Promise<MasterStatusReport> {
  return new Promise((resolve, reject) => {
    const [host, port] = [hostPort.slice(0, hostPort.lastIndexOf(':')), Number(hostPort.slice(hostPort.lastIndexOf(':') + 1))];
    const req = request({ host, port, path: opts.gc === true ? '/status?gc=1' : '/status', method: 'GET', timeout: STATUS_TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (body.length > MAX_STATUS_BYTES) req.destroy(new Error(`status answer from ${hostPort} is over ${MAX_STATUS_BYTES} bytes`));
      });
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as MasterStatusReport);
        } catch (err) {
          reject(new Error(`status answer from ${hostPort} is not JSON: ${(err as Error).message}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no status answer from ${hostPort} within ${STATUS_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export async function statusCommand(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { dir: { type: 'string', default: DEFAULT_LAB_DIR }, endpoints: { type: 'string' } },
    strict: true,
  });
  const endpoints = values.endpoints?.split(',').map((e) => e.trim()) ?? readLab(values.dir ?? DEFAULT_LAB_DIR)?.members.map((m) => m.listen);
  if (endpoints === undefined) {
    out.write(`no lab in ${values.dir ?? DEFAULT_LAB_DIR} (run \`flotilla up\`), and no --endpoints HOST:PORT,...\n`);
    return 2;
  }
  const rows = [['NAME', 'ADDRESS', 'ROLE', 'TERM', 'LEADER', 'COMMIT', 'APPLIED', 'REVISION', 'VOTERS', 'SCHEDULER']];
  let failures = 0;
  for (const ep of endpoints) {
    try {
      const s = await fetchStatus(ep);
      // The master's scheduler process (cli/scheduler-process.ts): its PID, or '-' when none runs.
      const scheduler = s.schedulerPid === undefined ? '-' : `pid ${s.schedulerPid}`;
      rows.push([s.name, s.address, s.role, String(s.term), s.leaderName, String(s.commit), String(s.applied), String(s.revision), s.voters.join(','), scheduler]);
    } catch (err) {
      failures++;
      rows.push(['?', ep, `unreachable: ${(err as Error).message}`, '', '', '', '', '', '', '']);
    }
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  for (const r of rows) out.write(`${r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()}\n`);
  return failures === endpoints.length ? 1 : 0;
}
