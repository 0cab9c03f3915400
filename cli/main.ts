// The `flotilla` command: parses the command line and hands off; no logic of its own.

import { simCommand } from './sim.js';
import { masterCommand } from './master.js';
import { statusCommand } from './status.js';
import { upCommand } from './up.js';
import { applyCommand, deleteCommand, describeCommand, getCommand } from './resources.js';
import { agentCommand } from './agent.js';
import { logsCommand } from './logs.js';
import { schedulerCommand } from './scheduler.js';

async function benchCommand(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const [what, ...rest] = argv;
  if (what === 'store') {
    const { storeBenchCommand } = await import('../bench/store.js');
    return storeBenchCommand(rest, out);
  }
  if (what === 'podstart') {
    const { podstartBenchCommand } = await import('../bench/podstart.js');
    return podstartBenchCommand(rest, out);
  }
  if (what === 'watch') {
    const { watchBenchCommand } = await import('../bench/watch.js');
    return watchBenchCommand(rest, out);
  }
  if (what === 'schedule') {
    const { scheduleBenchCommand } = await import('../bench/schedule.js');
    return scheduleBenchCommand(rest, out);
  }
  process.stderr.write(`flotilla bench: unknown benchmark '${what ?? ''}' (try: store, watch, podstart, schedule)\n`);
  return 2;
}

const USAGE = `usage: flotilla <command> [options]

commands:
  sim --seeds A..B [--trace] [--stop]   run the deterministic Raft simulator over seeds A..B
  up [--dir DIR]                        a local three-master lab on loopback (Ctrl-C stops it)
  status [--dir DIR | --endpoints ...]  each master's role, term, commit and applied index
  master --name N --data DIR --listen HOST:PORT --peers N=HOST:PORT,... [--etcd-listen HOST:PORT]
                                        run one master
  apply -f FILE|DIR|- [-n NS]           create or update the objects in YAML/JSON manifests
  get KIND [NAME] [-n NS | -A] [-l SEL] [--field-selector SEL] [-o wide|json|yaml] [-w]
                                        list objects as a table (or watch them with -w)
  describe KIND NAME [-n NS]            one object in detail, with its events
  delete KIND NAME... [-n NS] [--grace-period S] | delete -f FILE
                                        delete objects
  logs POD [-n NS] [-c CONTAINER] [-f] [-p]
                                        a container's output, from its node's agent
    (the cluster: --server HOST:PORT,... --token T, or FLOTILLA_SERVER/FLOTILLA_TOKEN, or the lab in --dir)
  scheduler [--server HOST:PORT,...] [--profile F]
                                        run a scheduler (every master starts one of its own)
  agent --name NODE --masters HOST:PORT,... [--token T] [--containerd-address SOCK] [--simulated]
                                        run a node agent: pods bound to NODE as containers through containerd
  bench store [--clients N] [--value-size B] [--seconds S] [--against etcd]
                                        write throughput and latency of a three-master cluster
  bench watch [--watchers N] [--rate R] [--seconds S] [--warmup S]
                                        watch fanout: N node watchers on one master, R pods/s written via another
  bench podstart [--pods N] [--in-process]
                                        pod start latency through a real containerd: create to Running
  bench schedule [--nodes N] [--pods P] [--endpoints ...] [--in-process-scheduler]
                                        scheduling throughput end to end through three masters
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
      case 'apply':
        return await applyCommand(rest, process.stdout);
      case 'get':
        return await getCommand(rest, process.stdout);
      case 'describe':
        return await describeCommand(rest, process.stdout);
      case 'delete':
        return await deleteCommand(rest, process.stdout);
      case 'logs':
        return await logsCommand(rest, process.stdout);
      case 'scheduler':
        return await schedulerCommand(rest);
      case 'agent':
        return await agentCommand(rest, process.stdout);
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
    if (command === 'master' || command === 'scheduler') {
      // A master that failed to start must not linger with half-open sockets or timers, nor a
      // scheduler whose master's IPC channel would keep it alive doing nothing (its master
      // restarts it only once it has exited).
      process.exit(2);
    }
    return 2;
  }
}
