// `flotilla master`: runs one master until SIGINT/SIGTERM.

import { parseArgs } from 'node:util';
import { jsonLogger } from '../store/logger.js';
import { parsePeers, validateMemberName } from '../store/members.js';
import { webSocketPeerNetwork } from '../store/peer-network.js';
import { Master } from '../store/server.js';
import { startEtcdFace } from '../store/etcd-face.js';
import { randomBytes } from 'node:crypto';
import { startApiFace, readApiTokens } from '../apiserver/face.js';
import { Framework } from '../scheduler/framework/runtime.js';
import { SchedulerProcess } from './scheduler-process.js';

export const MASTER_USAGE = `usage: flotilla master --name NAME --data DIR --listen HOST:PORT --peers NAME=HOST:PORT,... [options]

  --name NAME             this member's name (one of --peers)
  --data DIR              where its LMDB environment lives (created if missing)
  --listen HOST:PORT      peers and status (must equal this member's --peers address)
  --peers LIST            the founding members: m1=HOST:PORT,m2=HOST:PORT,m3=HOST:PORT
  --etcd-listen HOST:PORT serve the etcd v3 gRPC API there (for etcdctl and etcd clients)
  --token TOKEN           cluster token peers must present (or FLOTILLA_CLUSTER_TOKEN)
  --join                  join an existing cluster (after 'etcdctl member add')
  --cluster NAME          the cluster's name; peers of another cluster are refused (default flotilla)
  --snapshot-every N      snapshot the state and compact the log every N entries (default 10000)
  --enable-fault-injection  serve PUT /debug/partition?block=NAME,... (chaos tests; never in production)
  --tick-ms N             milliseconds per Raft tick (default 100; elections after 10-20 ticks)
  --api-token-file FILE   API bearer tokens, one per line: TOKEN [USER] (or FLOTILLA_API_TOKEN for one);
                          with neither, the API serves anyone and says so in the log
  --no-scheduler          do not run a scheduler here (by default every master runs one; a Lease
                          picks the active one)
  --scheduler-profile F   the scheduler's profile (JSON or YAML: plugins and weights)
`;

export async function masterCommand(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      name: { type: 'string' },
      data: { type: 'string' },
      listen: { type: 'string' },
      peers: { type: 'string' },
      'etcd-listen': { type: 'string' },
      token: { type: 'string' },
      join: { type: 'boolean', default: false },
      'tick-ms': { type: 'string' },
      cluster: { type: 'string', default: 'flotilla' },
      'snapshot-every': { type: 'string' },
      'enable-fault-injection': { type: 'boolean', default: false },
      'api-token-file': { type: 'string' },
      'no-scheduler': { type: 'boolean', default: false },
      'scheduler-profile': { type: 'string' },
    },
    strict: true,
  });
  for (const required of ['name', 'data', 'listen', 'peers'] as const) {
    if (values[required] === undefined) {
      process.stderr.write(`flotilla master: --${required} is required\n${MASTER_USAGE}`);
      return 2;
    }
  }
  const name = validateMemberName(values.name!);
  // The scheduler process loads the profile itself; a bad one is refused here, before the master
  // starts, rather than by a scheduler process that would exit and be restarted over and over.
  if (values['no-scheduler'] !== true && values['scheduler-profile'] !== undefined) {
    try {
      await Framework.load(values['scheduler-profile']);
    } catch (err) {
      process.stderr.write(`flotilla master: --scheduler-profile: ${(err as Error).message}\n`);
      return 2;
    }
  }
  const tickMs = values['tick-ms'] === undefined ? undefined : Number(values['tick-ms']);
  if (tickMs !== undefined && (!Number.isInteger(tickMs) || tickMs < 1 || tickMs > 10_000)) {
    process.stderr.write(`flotilla master: --tick-ms '${values['tick-ms']}' must be a whole number of milliseconds from 1 to 10000\n`);
    return 2;
  }
  const snapshotEvery = values['snapshot-every'] === undefined ? undefined : Number(values['snapshot-every']);
  if (snapshotEvery !== undefined && (!Number.isInteger(snapshotEvery) || snapshotEvery < 1)) {
    process.stderr.write(`flotilla master: --snapshot-every '${values['snapshot-every']}' must be a positive whole number of entries\n`);
    return 2;
  }
  const token = values.token ?? process.env['FLOTILLA_CLUSTER_TOKEN'];
  const logger = jsonLogger(`master/${name}`);
  const peers = parsePeers(values.peers!);
  const configuredTokens = readApiTokens(values['api-token-file'], process.env['FLOTILLA_API_TOKEN']);
  // This master's own components (the scheduler) call its API with a token of their own.
  const internalToken = randomBytes(24).toString('hex');
  const apiTokens = configuredTokens === undefined ? undefined : new Map([...configuredTokens, [internalToken, `system:master:${name}`]]);
  const master = await Master.start(
    {
      name, dataDir: values.data!, listen: values.listen!, peers, join: values.join === true,
      ...(values['etcd-listen'] !== undefined ? { etcdListen: values['etcd-listen'] } : {}),
      ...(tickMs !== undefined ? { tickMs } : {}),
      ...(snapshotEvery !== undefined ? { snapshotEvery } : {}),
      faultInjection: values['enable-fault-injection'] === true,
      ...(token !== undefined ? { token } : {}),
    },
    {
      logger,
      network: (self, handlers) => webSocketPeerNetwork({ self, handlers, token, clusterId: values.cluster ?? 'flotilla', logger }),
      etcd: startEtcdFace,
      api: (backend, m) => startApiFace(backend, { masterName: m.name, logger: m.logger, tokens: apiTokens }),
    },
  );
  let scheduler: SchedulerProcess | undefined;
  if (values['no-scheduler'] !== true) {
    scheduler = new SchedulerProcess({
      endpoint: values.listen!,
      ...(apiTokens !== undefined ? { token: internalToken } : {}),
      identity: `${name}-${randomBytes(4).toString('hex')}`,
      isRaftLeader: () => master.backend.isLeader() === true,
      ...(values['scheduler-profile'] !== undefined ? { profilePath: values['scheduler-profile'] } : {}),
      logger,
    });
    const running = scheduler;
    master.schedulerPid = () => running.pid;
  }
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  // Leadership moves first (when this master leads), so the cluster elects nobody by timeout and
  // the scheduler's release below is committed by the new leader.
  await master.handOffLeadership().catch((error: unknown) => logger.warn('leadership hand-off failed', { error: (error as Error).message }));
  // The scheduler goes first and releases its Lease, so a standby takes over at once — if the
  // cluster can still commit that: when it cannot (the other masters are stopping too), the lease
  // simply expires, and the master must not hang waiting.
  await scheduler?.stop();
  await master.close();
  return 0;
}
