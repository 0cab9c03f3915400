// The `flotilla` command: parses the command line and hands off; no logic of its own.

import { simCommand } from './sim.js';
import { upCommand } from './up.js';

const USAGE = `usage: flotilla <command> [options]

commands:
  sim --seeds A..B [--trace] [--stop]   run the deterministic Raft simulator over seeds A..B
  up                                    the local three-master lab (not built yet)
  help                                  this text
`;

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'sim':
        return simCommand(rest, process.stdout);
      case 'up':
        return upCommand(process.stdout);
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
    return 2;
  }
}
