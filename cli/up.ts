// `flotilla up`: a local three-master lab on loopback. Starts the masters as child processes with
// their data under the lab folder, waits for a leader, prints the endpoints; Ctrl-C stops them
// cleanly; running it again resumes from disk.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FLOTILLA_BIN, masterNodeArgs } from './node-args.js';
import { fetchStatus } from './status.js';
import { DEFAULT_LAB_DIR, labLayout } from './lab.js';
import { API_TOKEN_FILE, readLabApiToken } from './connect.js';
import { startLabAgents, type LabAgents } from './up-agent.js';

/** How long the lab may take to elect a leader before `up` gives up. */
const LEADER_WAIT_MS = 30_000;
/** How long masters get to stop after SIGTERM before they are killed. */
const STOP_GRACE_MS = 10_000;

export async function upCommand(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      dir: { type: 'string', default: DEFAULT_LAB_DIR },
      'peer-port': { type: 'string', default: '7001' },
      'etcd-port': { type: 'string', default: '2379' },
      'tick-ms': { type: 'string' },
    },
    strict: true,
  });
  const port = (flag: 'peer-port' | 'etcd-port'): number => {
    const n = Number(values[flag]);
    // Three members use port, port+1, port+2 (peers) or port, port+10, port+20 (etcd).
    if (!Number.isInteger(n) || n < 1 || n > 65_500) throw new Error(`--${flag} '${values[flag]}' must be a port from 1 to 65500`);
    return n;
  };
  const tick = values['tick-ms'];
  if (tick !== undefined && !/^\d{1,5}$/.test(tick)) throw new Error(`--tick-ms '${tick}' must be a whole number of milliseconds`);
  const lab = labLayout(values.dir ?? DEFAULT_LAB_DIR, port('peer-port'), port('etcd-port'));
  mkdirSync(lab.dir, { recursive: true });
  const tokenFile = join(lab.dir, 'token');
  if (!existsSync(tokenFile)) writeFileSync(tokenFile, randomBytes(24).toString('hex'), { mode: 0o600 });
  const token = readFileSync(tokenFile, 'utf8').trim();
  // The API's bearer token: what `flotilla get/apply` and agents present (cli/connect.ts reads it).
  const apiTokenFile = join(lab.dir, API_TOKEN_FILE);
  if (!existsSync(apiTokenFile)) writeFileSync(apiTokenFile, `${randomBytes(24).toString('hex')} admin\n`, { mode: 0o600 });
  const apiToken = readLabApiToken(lab.dir) ?? '';
  writeFileSync(join(lab.dir, 'lab.json'), JSON.stringify(lab, null, 2));
  const resumed = lab.members.some((m) => existsSync(join(m.dataDir, 'data.mdb')));

  const peers = lab.members.map((m) => `${m.name}=${m.listen}`).join(',');
  const children: ChildProcess[] = [];
  for (const m of lab.members) {
    const log = createWriteStream(m.logFile, { flags: 'a' });
    const args = [FLOTILLA_BIN, 'master', '--name', m.name, '--data', m.dataDir, '--listen', m.listen, '--peers', peers, '--etcd-listen', m.etcd, '--api-token-file', apiTokenFile];
    if (values['tick-ms'] !== undefined) args.push('--tick-ms', values['tick-ms']);
    const child = spawn(process.execPath, [...masterNodeArgs(lab.members.length), ...args], { env: { ...process.env, FLOTILLA_CLUSTER_TOKEN: token }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    child.on('exit', (code, signal) => {
      if (!stopping) out.write(`master ${m.name} exited (${signal ?? code}); see ${m.logFile}\n`);
    });
    children.push(child);
  }
  let stopping = false;
  let agents: LabAgents | undefined;
  const stopAll = async (): Promise<void> => {
    stopping = true;
    // Agents first: they leave their containers running (the next `up` adopts them).
    await agents?.stop();
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const kill = setTimeout(() => c.kill('SIGKILL'), STOP_GRACE_MS);
            c.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
  };

  const deadline = Date.now() + LEADER_WAIT_MS;
  let leader: string | undefined;
  while (Date.now() < deadline && leader === undefined) {
    await new Promise((r) => setTimeout(r, 200));
    for (const m of lab.members) {
      const st = await fetchStatus(m.listen).catch(() => undefined);
      if (st?.role === 'leader') leader = st.name;
    }
  }
  if (leader === undefined) {
    out.write(`no leader within ${LEADER_WAIT_MS / 1000} s; logs are in ${lab.dir}\n`);
    await stopAll();
    return 1;
  }
  out.write(`Flotilla lab ${resumed ? 'resumed from disk' : 'started'} in ${lab.dir}; leader ${leader}\n\n`);
  try {
    agents = await startLabAgents(lab, FLOTILLA_BIN, apiToken, out);
  } catch (err) {
    out.write(`no node agent: ${(err as Error).message}\n`);
  }
  out.write('NAME  API+PEERS+STATUS     ETCD (v3 gRPC)       LOG\n');
  for (const m of lab.members) out.write(`${m.name.padEnd(6)}${m.listen.padEnd(21)}${m.etcd.padEnd(21)}${m.logFile}\n`);
  out.write(`\ntry:  ETCDCTL_API=3 etcdctl --endpoints ${lab.members.map((m) => m.etcd).join(',')} put hello world\n`);
  out.write(`      npx flotilla status --dir ${values.dir ?? DEFAULT_LAB_DIR}\n`);
  out.write('      npx flotilla apply -f examples/   &&   npx flotilla get pods -o wide\n');
  out.write('Ctrl-C stops the lab; `flotilla up` again resumes it.\n');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  out.write('stopping the lab...\n');
  await stopAll();
  out.write('stopped.\n');
  return 0;
}
