// `flotilla scheduler`: one scheduler process. It campaigns for the scheduler Lease and, while it
// holds it, schedules through the API of the masters it is given. Every master starts one as its
// child (cli/scheduler-process.ts) with its own heap: the scheduler's pod cache and the garbage
// it makes stay out of the master's, and the two share the machine's cores instead of one thread.
// Run by hand, it is a scheduler like kube-scheduler, for any cluster it can reach.
//
// Started by a master, it has an IPC channel to it and listens for one message, the master's Raft
// role (SchedulerParentMessage), so a master that leads lets a follower's scheduler take the Lease
// first. When the channel closes (the master died, even by SIGKILL), it exits: a scheduler outlives
// its master only as long as it takes to notice.

import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { jsonLogger } from '../store/logger.js';
import { runSchedulerWithClient } from '../scheduler/run.js';
import { CONNECT_OPTIONS, connect } from './connect.js';

export const SCHEDULER_USAGE = `usage: flotilla scheduler [--server HOST:PORT,...] [--token T] [--profile F] [--identity ID]

  --server LIST      the masters to call (or FLOTILLA_SERVER, or the lab in --dir)
  --token T          the API bearer token (or FLOTILLA_TOKEN)
  --profile F        the scheduler's profile (JSON or YAML: plugins and weights)
  --identity ID      its name in the scheduler Lease (default: scheduler-<random hex>)
`;

/** A command line the scheduler cannot run with; main() prints it and exits. */
export class SchedulerUsageError extends Error {
  override readonly name = 'SchedulerUsageError';
}

/** What a master tells the scheduler process it started. */
export interface SchedulerParentMessage {
  readonly type: 'raft-role';
  /** The master leads the Raft group: its scheduler lets another master's take the Lease first. */
  readonly leader: boolean;
}

/** The master's message, or undefined for anything else (which is logged and ignored). */
export function parseParentMessage(message: unknown): SchedulerParentMessage | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const m = message as Record<string, unknown>;
  if (m['type'] !== 'raft-role' || typeof m['leader'] !== 'boolean') return undefined;
  return { type: 'raft-role', leader: m['leader'] };
}

export async function schedulerCommand(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { ...CONNECT_OPTIONS, profile: { type: 'string' }, identity: { type: 'string' }, help: { type: 'boolean', default: false } },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(SCHEDULER_USAGE);
    return 0;
  }
  const identity = values.identity ?? `scheduler-${randomBytes(4).toString('hex')}`;
  // Thrown, not returned: main() then exits, which a child with its master's IPC channel open would not.
  if (!/^[\x21-\x7e]{1,128}$/.test(identity)) throw new SchedulerUsageError(`--identity '${identity}' must be 1 to 128 printable characters without spaces\n${SCHEDULER_USAGE}`);
  const logger = jsonLogger(`scheduler/${identity}`);
  const client = connect(values);
  let masterLeads = false;
  const fromMaster = process.send !== undefined;
  if (fromMaster) {
    process.on('message', (message: unknown) => {
      const parsed = parseParentMessage(message);
      if (parsed === undefined) logger.warn('ignoring a message from the master that is not a raft-role', {});
      else masterLeads = parsed.leader;
    });
  }
  const scheduler = await runSchedulerWithClient(client, {
    identity,
    // The Raft leader has the most work already: its scheduler lets a follower's take the Lease
    // first (bench schedule: the master that led and scheduled ran at a full core, the others at 27%).
    election: { deferWhile: () => masterLeads },
    ...(values.profile !== undefined ? { profilePath: values.profile } : {}),
    logger,
  });
  const why = await new Promise<'signal' | 'orphaned'>((resolve) => {
    process.once('SIGINT', () => resolve('signal'));
    process.once('SIGTERM', () => resolve('signal'));
    // The master is gone, and with it the only API this process was given: nothing to release
    // the Lease through, so it expires and a standby takes over.
    if (fromMaster) process.once('disconnect', () => resolve('orphaned'));
  });
  if (why === 'orphaned') {
    logger.warn('the master that started this scheduler is gone; stopping', {});
    await scheduler.crash();
  } else {
    await scheduler.stop().catch((error: unknown) => logger.warn('releasing the scheduler Lease failed', { error: (error as Error).message }));
  }
  await client.close();
  // The IPC channel would keep this process alive.
  if (process.connected) process.disconnect();
  return 0;
}
