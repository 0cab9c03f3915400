// Real network partitions for multi-process tests: each master in a network namespace of its own,
// joined to the test process by a veth pair into a bridge in the root namespace. Partitions are
// iptables DROP rules inside the masters' namespaces (so they vanish with the namespace, whatever
// happens to the test). Needs root (CAP_NET_ADMIN), iproute2 and iptables.
//
// A master's etcd endpoint listens on loopback only (it has no TLS or authentication yet). The lab
// exposes it on the namespace's address by a DNAT rule to 127.0.0.1 in the namespace (with
// route_localnet), so the test's clients reach the master itself through the bridge, with no proxy
// process in between that could outlive a killed master or keep answering for a paused one.
//
//   root namespace: bridge <lab>br, 10.77.N.1/24 (the test's clients reach the masters through it)
//   namespace <lab>m1: eth0 10.77.N.11/24 (veth peer <lab>v1 on the bridge), lo
//   namespace <lab>m2: eth0 10.77.N.12/24 ...

import { execFileSync } from 'node:child_process';

/** One master's namespace and its address on the bridge. */
export interface NetnsHost {
  readonly namespace: string;
  readonly address: string;
}

export class NetnsUnavailableError extends Error {
  override readonly name = 'NetnsUnavailableError';
}

/** Linux interface names are at most 15 bytes. */
const MAX_IFNAME = 15;
/** Third octets tried for the lab's 10.77.N.0/24 until one is not routed yet. */
const SUBNET_CANDIDATES = 32;

function run(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function tryRun(cmd: string, args: readonly string[]): void {
  try {
    run(cmd, args);
  } catch {
    // cleanup of something already gone
  }
}

/**
 * Checks, by doing it, that this machine lets us create a network namespace and use iptables in
 * it. Throws NetnsUnavailableError naming what is missing.
 */
export function checkNetnsCapability(): void {
  const probe = `flprobe${process.pid % 100_000}`;
  try {
    run('ip', ['netns', 'add', probe]);
  } catch (err) {
    const why = (err as { stderr?: string }).stderr ?? (err as Error).message;
    throw new NetnsUnavailableError(
      `cannot create a network namespace ('ip netns add' failed: ${why.trim()}); this test needs root with CAP_NET_ADMIN and CAP_SYS_ADMIN, and iproute2`,
    );
  }
  try {
    run('ip', ['netns', 'exec', probe, 'iptables', '-A', 'OUTPUT', '-d', '10.77.255.254', '-j', 'DROP']);
  } catch (err) {
    const why = (err as { stderr?: string }).stderr ?? (err as Error).message;
    throw new NetnsUnavailableError(`iptables does not work in a network namespace (${why.trim()}); install iptables (apt-get install -y iptables) and run as root`);
  } finally {
    tryRun('ip', ['netns', 'del', probe]);
  }
}

export class NetnsLab {
  /** The DROP rules in force, as "from>to" pairs (one direction each). */
  private readonly cuts = new Set<string>();

  private constructor(
    readonly prefix: string,
    readonly bridge: string,
    readonly gateway: string,
    readonly hosts: readonly NetnsHost[],
  ) {}

  /**
   * Creates `count` namespaces on a fresh bridge. On failure, whatever was created is removed
   * before the error is thrown.
   */
  static create(count: number, opts: { readonly loopbackPorts?: readonly number[] } = {}): NetnsLab {
    checkNetnsCapability();
    const prefix = `fl${process.pid % 100_000}`;
    const routes = run('ip', ['-4', 'route', 'show']);
    let octet = -1;
    for (let n = 0; n < SUBNET_CANDIDATES && octet < 0; n++) if (!routes.includes(`10.77.${n}.0/24`)) octet = n;
    if (octet < 0) throw new NetnsUnavailableError(`no free 10.77.N.0/24 for the lab (N < ${SUBNET_CANDIDATES} all routed)`);
    const bridge = `${prefix}br`;
    const gateway = `10.77.${octet}.1`;
    const hosts = Array.from({ length: count }, (_, i) => ({ namespace: `${prefix}m${i + 1}`, address: `10.77.${octet}.${11 + i}` }));
    if (bridge.length > MAX_IFNAME || `${prefix}v${count}`.length > MAX_IFNAME) throw new Error(`interface names of ${prefix} are too long`);
    const lab = new NetnsLab(prefix, bridge, gateway, hosts);
    try {
      run('ip', ['link', 'add', bridge, 'type', 'bridge']);
      run('ip', ['addr', 'add', `${gateway}/24`, 'dev', bridge]);
      run('ip', ['link', 'set', bridge, 'up']);
      hosts.forEach((h, i) => {
        const veth = `${prefix}v${i + 1}`;
        const inner = `${prefix}i${i + 1}`;
        run('ip', ['netns', 'add', h.namespace]);
        run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', inner]);
        run('ip', ['link', 'set', inner, 'netns', h.namespace]);
        run('ip', ['link', 'set', veth, 'master', bridge]);
        run('ip', ['link', 'set', veth, 'up']);
        const inNs = (...args: string[]): string => run('ip', ['netns', 'exec', h.namespace, ...args]);
        inNs('ip', 'link', 'set', 'lo', 'up');
        inNs('ip', 'link', 'set', inner, 'name', 'eth0');
        inNs('ip', 'addr', 'add', `${h.address}/24`, 'dev', 'eth0');
        inNs('ip', 'link', 'set', 'eth0', 'up');
        inNs('ip', 'route', 'add', 'default', 'via', gateway);
        if ((opts.loopbackPorts ?? []).length > 0) inNs('sysctl', '-qw', 'net.ipv4.conf.all.route_localnet=1');
        for (const port of opts.loopbackPorts ?? []) {
          inNs('iptables', '-w', '-t', 'nat', '-A', 'PREROUTING', '-p', 'tcp', '-d', h.address, '--dport', String(port), '-j', 'DNAT', '--to-destination', `127.0.0.1:${port}`);
        }
      });
    } catch (err) {
      lab.destroy();
      throw err;
    }
    return lab;
  }

  host(index: number): NetnsHost {
    const h = this.hosts[index];
    if (h === undefined) throw new Error(`no namespace ${index}`);
    return h;
  }

  private hostOf(address: string): NetnsHost {
    const h = this.hosts.find((x) => x.address === address);
    if (h === undefined) throw new Error(`no namespace has address ${address}`);
    return h;
  }

  /** Drops every packet from `from` to `to` (one direction): a rule in from's OUTPUT and to's INPUT. */
  cutOneWay(from: string, to: string): void {
    const key = `${from}>${to}`;
    if (this.cuts.has(key)) return;
    run('ip', ['netns', 'exec', this.hostOf(from).namespace, 'iptables', '-w', '-A', 'OUTPUT', '-d', to, '-j', 'DROP']);
    run('ip', ['netns', 'exec', this.hostOf(to).namespace, 'iptables', '-w', '-A', 'INPUT', '-s', from, '-j', 'DROP']);
    this.cuts.add(key);
  }

  /** Drops every packet between a and b, both ways. */
  cut(a: string, b: string): void {
    this.cutOneWay(a, b);
    this.cutOneWay(b, a);
  }

  /** Cuts `address` off from every other master, both ways (clients still reach it). */
  isolate(address: string): void {
    for (const h of this.hosts) if (h.address !== address) this.cut(address, h.address);
  }

  /** The cuts in force, as "from>to". */
  activeCuts(): string[] {
    return [...this.cuts];
  }

  /** Removes every DROP rule (the nat table's port exposure stays). */
  heal(): void {
    for (const h of this.hosts) {
      run('ip', ['netns', 'exec', h.namespace, 'iptables', '-w', '-F', 'INPUT']);
      run('ip', ['netns', 'exec', h.namespace, 'iptables', '-w', '-F', 'OUTPUT']);
    }
    this.cuts.clear();
  }

  /**
   * Removes the namespaces (their rules and veth ends go with them), the veths and the bridge.
   * Never throws; safe to call twice. Processes still running in a namespace keep it alive only
   * until they exit.
   */
  destroy(): void {
    this.hosts.forEach((h, i) => {
      tryRun('ip', ['netns', 'del', h.namespace]);
      tryRun('ip', ['link', 'del', `${this.prefix}v${i + 1}`]);
    });
    tryRun('ip', ['link', 'del', this.bridge]);
  }

  /** What of the lab is still present (for a test to assert the cleanup). */
  static leftovers(prefix: string): string[] {
    const links = run('ip', ['-o', 'link', 'show']).split('\n').filter((l) => l.includes(`: ${prefix}`));
    const namespaces = run('ip', ['netns', 'list']).split('\n').filter((l) => l.startsWith(prefix));
    return [...links, ...namespaces];
  }
}
