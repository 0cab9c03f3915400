// Multi-process test harness: real `flotilla master` processes on loopback, each with its own data
// directory and log file. Only processes this harness started are signalled, by their PID.

import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FLOTILLA_BIN, masterNodeArgs } from '../../cli/node-args.js';
import { fetchStatus } from '../../cli/status.js';
import { StoreClient } from '../../store/client.js';
import { NativeStoreClient } from '../../store/native/client.js';
import { ApiClient } from '../../client/api-client.js';
import type { MasterStatusReport } from '../../store/server.js';

/** How long a master gets to stop cleanly before the harness kills it. */
const STOP_GRACE_MS = 10_000;


export interface HarnessMember {
  readonly name: string;
  readonly listen: string;
  /** host:port the test's clients dial for the member's etcd endpoint. */
  readonly etcd: string;
  /** host:port the member's etcd endpoint binds, when it differs from `etcd` (inside a namespace). */
  readonly etcdListen?: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** The network namespace the member runs in (`ip netns exec`); the root namespace when undefined. */
  readonly namespace?: string;
  proc: ChildProcess | undefined;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** `count` consecutive free ports from a random base. */
async function freePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = await portFree(base + i);
    if (ok) return base;
  }
  throw new Error('no free ports on 127.0.0.1');
}

export interface ClusterOptions {
  readonly size?: number;
  readonly tickMs?: number;
  readonly snapshotEvery?: number;
  readonly token?: string;
  readonly faultInjection?: boolean;
  /** The API's bearer token (FLOTILLA_API_TOKEN); TEST_API_TOKEN by default. */
  readonly apiToken?: string;
  /**
   * Run member i inside network namespace hosts[i].namespace, serving peers on
   * hosts[i].address:NETNS_PEER_PORT and etcd on the namespace's 127.0.0.1:NETNS_ETCD_PORT, which
   * clients dial as hosts[i].address:NETNS_ETCD_PORT (the lab forwards it; see harness/netns.ts).
   * One host per member. By default members run on the root namespace's loopback.
   */
  readonly netns?: readonly { readonly namespace: string; readonly address: string }[];
}

/** Ports of a member in a network namespace of its own (its address is its own). */
export const NETNS_PEER_PORT = 7001;
export const NETNS_ETCD_PORT = 2379;

export const TEST_API_TOKEN = 'test-api-token-0123456789abcdef';
/** The masters' cluster token (FLOTILLA_CLUSTER_TOKEN) unless a test sets its own. */
export const TEST_CLUSTER_TOKEN = 'test-cluster-token';

export class TestCluster {
  private constructor(
    readonly dir: string,
    readonly members: HarnessMember[],
    private readonly opts: ClusterOptions,
  ) {}

  static async start(opts: ClusterOptions = {}): Promise<TestCluster> {
    const size = opts.size ?? 3;
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-cluster-'));
    const netns = opts.netns;
    if (netns !== undefined && netns.length !== size) throw new Error(`netns gives ${netns.length} hosts for ${size} members`);
    const base = netns === undefined ? await freePorts(size * 2) : 0;
    const members: HarnessMember[] = Array.from({ length: size }, (_, i) => {
      const host = netns?.[i];
      return {
        name: `m${i + 1}`,
        listen: host === undefined ? `127.0.0.1:${base + i}` : `${host.address}:${NETNS_PEER_PORT}`,
        etcd: host === undefined ? `127.0.0.1:${base + size + i}` : `${host.address}:${NETNS_ETCD_PORT}`,
        dataDir: join(dir, `m${i + 1}`),
        logFile: join(dir, `m${i + 1}.log`),
        ...(host === undefined ? {} : { namespace: host.namespace, etcdListen: `127.0.0.1:${NETNS_ETCD_PORT}` }),
        proc: undefined,
      };
    });
    const c = new TestCluster(dir, members, opts);
    for (const m of members) c.spawn(m);
    return c;
  }

  member(name: string): HarnessMember {
    const m = this.members.find((x) => x.name === name);
    if (m === undefined) throw new Error(`no member ${name}`);
    return m;
  }

  /**
   * A new member for an existing cluster: ports and folders, not started. Add it through the
   * cluster first (etcdctl member add), then start it with startJoining.
   */
  async newMember(name: string): Promise<HarnessMember> {
    const base = await freePorts(2);
    const m: HarnessMember = {
      name,
      listen: `127.0.0.1:${base}`,
      etcd: `127.0.0.1:${base + 1}`,
      dataDir: join(this.dir, name),
      logFile: join(this.dir, `${name}.log`),
      proc: undefined,
    };
    this.members.push(m);
    return m;
  }

  startJoining(name: string): void {
    this.spawn(this.member(name), true);
  }

  private spawn(m: HarnessMember, join = false): void {
    const peers = this.members.map((x) => `${x.name}=${x.listen}`).join(',');
    const args = [FLOTILLA_BIN, 'master', '--name', m.name, '--data', m.dataDir, '--listen', m.listen, '--peers', peers, '--etcd-listen', m.etcdListen ?? m.etcd, '--tick-ms', String(this.opts.tickMs ?? 20)];
    if (join) args.push('--join');
    if (this.opts.snapshotEvery !== undefined) args.push('--snapshot-every', String(this.opts.snapshotEvery));
    if (this.opts.faultInjection === true) args.push('--enable-fault-injection');
    const log = createWriteStream(m.logFile, { flags: 'a' });
    const env = { ...process.env, FLOTILLA_CLUSTER_TOKEN: this.opts.token ?? TEST_CLUSTER_TOKEN, FLOTILLA_API_TOKEN: this.opts.apiToken ?? TEST_API_TOKEN };
    // FLOTILLA_MASTER_NODE_ARGS passes flags to the masters' node (e.g. --cpu-prof for profiling);
    // they come after the masters' own flags (cli/node-args.ts), so they win.
    const nodeArgs = [...masterNodeArgs(this.members.length), ...(process.env['FLOTILLA_MASTER_NODE_ARGS'] ?? '').split(' ').filter((a) => a.length > 0)];
    // `ip netns exec` enters the namespace and execs node in the same process: the PID is node's.
    const proc = m.namespace === undefined
      ? spawn(process.execPath, [...nodeArgs, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('ip', ['netns', 'exec', m.namespace, process.execPath, ...nodeArgs, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.pipe(log);
    proc.stderr?.pipe(log);
    // How the process ended, for post-mortems (FLOTILLA_KEEP_CLUSTER keeps the logs).
    proc.once('exit', (code, signal) => {
      try {
        appendFileSync(m.logFile, `${JSON.stringify({ ts: new Date().toISOString(), harness: 'exit', code, signal })}\n`);
      } catch {
        // the folder may already be gone
      }
    });
    m.proc = proc;
  }

  async status(name: string): Promise<MasterStatusReport | undefined> {
    return fetchStatus(this.member(name).listen).catch(() => undefined);
  }

  /** Waits for a leader that a majority of the live members agree on. */
  async waitLeader(timeoutMs = 15_000, exclude: readonly string[] = []): Promise<HarnessMember> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const m of this.members) {
        if (exclude.includes(m.name) || m.proc === undefined) continue;
        const st = await this.status(m.name);
        if (st?.role === 'leader') return m;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no leader within ${timeoutMs} ms`);
  }

  /** Sends a signal to a member this harness started. SIGKILL also forgets the process. */
  async signal(name: string, sig: NodeJS.Signals): Promise<void> {
    const m = this.member(name);
    const proc = m.proc;
    if (proc === undefined || proc.pid === undefined) return;
    if (sig === 'SIGKILL' || sig === 'SIGTERM') {
      const exited = new Promise<void>((resolve) => (proc.exitCode !== null || proc.signalCode !== null ? resolve() : proc.once('exit', () => resolve())));
      process.kill(proc.pid, sig);
      // A master that does not stop within STOP_GRACE_MS of SIGTERM is killed.
      const force = sig === 'SIGTERM' ? setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS) : undefined;
      await exited;
      if (force !== undefined) clearTimeout(force);
      m.proc = undefined;
    } else {
      process.kill(proc.pid, sig);
    }
  }

  /** Makes `name` drop all peer traffic to and from `blocked` (an empty list heals it). */
  async block(name: string, blocked: readonly string[]): Promise<void> {
    const [host, port] = this.member(name).listen.split(':');
    const res = await fetch(`http://${host}:${port}/debug/partition?block=${blocked.join(',')}`, { method: 'PUT' });
    if (res.status !== 204) throw new Error(`block at ${name}: HTTP ${res.status} ${await res.text()}`);
  }

  /** Cuts `name` off from every other member, both ways. */
  async isolate(name: string): Promise<void> {
    const others = this.members.filter((m) => m.name !== name).map((m) => m.name);
    await this.block(name, others).catch(() => {});
    for (const o of others) await this.block(o, [name]).catch(() => {});
  }

  async healPartitions(): Promise<void> {
    for (const m of this.members) if (m.proc !== undefined) await this.block(m.name, []).catch(() => {});
  }

  restart(name: string): void {
    const m = this.member(name);
    if (m.proc !== undefined) throw new Error(`${name} is running`);
    this.spawn(m);
  }

  /** A client over the given members' etcd endpoints (all by default). */
  client(names?: readonly string[], timeoutMs?: number): StoreClient {
    const ms = names === undefined ? this.members : names.map((n) => this.member(n));
    return new StoreClient(ms.map((m) => m.etcd), timeoutMs);
  }

  /** A native-protocol store client over the given members' --listen addresses (all by default), with the cluster token. */
  nativeClient(names?: readonly string[], timeoutMs?: number): NativeStoreClient {
    const ms = names === undefined ? this.members : names.map((n) => this.member(n));
    return new NativeStoreClient(ms.map((m) => m.listen), { token: this.opts.token ?? TEST_CLUSTER_TOKEN, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
  }

  /** An API client over the given members (all by default), with the cluster's API token unless told otherwise ('' = none). */
  api(names?: readonly string[], token: string = this.opts.apiToken ?? TEST_API_TOKEN): ApiClient {
    const ms = names === undefined ? this.members : names.map((n) => this.member(n));
    return new ApiClient({ endpoints: ms.map((m) => m.listen), ...(token !== '' ? { token } : {}) });
  }

  async stop(): Promise<void> {
    for (const m of this.members) {
      if (m.proc !== undefined) await this.signal(m.name, 'SIGCONT').catch(() => {});
    }
    await Promise.all(this.members.map((m) => this.signal(m.name, 'SIGTERM').catch(() => {})));
    // FLOTILLA_KEEP_CLUSTER keeps data and logs for a post-mortem.
    if (process.env['FLOTILLA_KEEP_CLUSTER'] === undefined) rmSync(this.dir, { recursive: true, force: true });
    else process.stderr.write(`cluster kept in ${this.dir}\n`);
  }
}
