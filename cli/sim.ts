// `flotilla sim --seeds A..B [--trace] [--stop]`: the deterministic Raft simulator.

import { parseArgs } from 'node:util';
import { formatSummary, parseSeedRange, runSeeds } from '../raft/sim/run.js';
import { runSeed } from '../raft/sim/simulation.js';

/** How many trace lines of a failing seed to print without --trace. */
const TRACE_TAIL_LINES = 60;

export function simCommand(argv: readonly string[], out: NodeJS.WritableStream): number {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      seeds: { type: 'string', default: '1..100' },
      trace: { type: 'boolean', default: false },
      stop: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const range = parseSeedRange(values.seeds ?? '1..100');
  if (values.trace === true) {
    for (let seed = range.first; seed <= range.last; seed++) {
      const r = runSeed({ seed, trace: (line) => out.write(`${line}\n`) });
      out.write(`seed ${seed}: ${r.ticks} ticks, ${r.violation === undefined ? 'ok' : r.violation.message}\n`);
    }
  }
  const summary = runSeeds(range, {
    stopOnViolation: values.stop === true,
    onProgress: (done, total) => {
      if (done % 100 === 0 && done < total) process.stderr.write(`sim: ${done}/${total} seeds\n`);
    },
  });
  for (const v of summary.violations) {
    out.write(`seed ${v.seed} VIOLATION at tick ${v.ticks}: ${v.violation!.message}\n`);
    const lines: string[] = [];
    runSeed({ seed: v.seed, trace: (line) => lines.push(line) });
    out.write(`  last ${TRACE_TAIL_LINES} trace lines (the whole trace: flotilla sim --seeds ${v.seed}..${v.seed} --trace):\n`);
    for (const line of lines.slice(-TRACE_TAIL_LINES)) out.write(`    ${line}\n`);
  }
  out.write(`${formatSummary(summary)}\n`);
  return summary.violations.length === 0 ? 0 : 1;
}
