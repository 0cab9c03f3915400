// The `flotilla` command: parses the command line and hands off; no logic of its own.

import { simCommand } from './sim.js';
import { masterCommand } from './master.js';
import { statusCommand } from './status.js';
import { upCommand } from './up.js';

async function benchCommand(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const [what, ...rest] = argv;
  if (what === 'store') {
    const { storeBenchCommand } = await import('../bench/store.js');
    return storeBenchCommand(rest, out);
  }
  if (what === 'schedule') {
    const { scheduleBenchCommand } = await import('../bench/schedule.js');
    return scheduleBenchCommand(rest, out);
  }
  process.stderr.write(`flotilla bench: unknown benchmark '${what ?? ''}' (try: store, schedule)\n`);
  return 2;
}

const USAGE = `usage: flotilla <command> [options]

commands:
  sim --seeds A..B [--trace] [--stop]   run the deterministic Raft simulator over seeds A..B
  up [--dir DIR]                        a local three-master lab on loopback (Ctrl-C stops it)
  status [--dir DIR | --endpoints ...]  each master's role, term, commit and applied index
  master --name N --data DIR --listen HOST:PORT --peers N=HOST:PORT,... [--etcd-listen HOST:PORT]
                                        run one master
  bench store [--clients N] [--value-size B] [--seconds S] [--against etcd]
                                        write throughput and latency of a three-master cluster
  bench schedule [--nodes N] [--pods P] [--endpoints ...] [--in-process-scheduler]
                                        scheduling throughput end to end (draft: needs the API server wired)
  help                                  this text
`;

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'sim':
        return simCommand(rest, process.stdout);
      case 'up':
        return await upCommand(rest, process.stdout);
      case 'master':
        return await masterCommand(rest);
      case 'status':
        return await statusCommand(rest, process.stdout);
      case 'bench':
        return await benchCommand(rest, process.stdout);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        process.stderr.write(`flotilla: unknown command '${command}'\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    process.stderr.write(`flotilla ${command}: ${(err as Error).message}\n`);
    if (command === 'master') {
      // A master that failed to start must not linger with half-open sockets or timers.
      process.exit(2);
    }
    return 2;
  }
}
