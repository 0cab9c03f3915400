import { afterEach, describe, expect, it } from 'vitest';
import { putCommand } from './mvcc/commands.js';
import { openTempStore, utf8, type TempStore } from './mvcc/testing.js';
import { MvccStateMachine } from './replicated-store.js';

let temp: TempStore | undefined;
afterEach(async () => {
  await temp?.dispose();
  temp = undefined;
});

const quiet = { warn: () => {} };

describe('MvccStateMachine waiting writes', () => {
  it('a write failed (leader change) before its caller awaits it is not an unhandled rejection', async () => {
    temp = openTempStore();
    const machine = new MvccStateMachine(temp.store, 1, quiet);
    const { outcome } = machine.track(putCommand(utf8('k'), utf8('v')));
    machine.failWaiting();
    // An unhandled rejection would surface here and fail the run (and crash a master).
    await new Promise((r) => setTimeout(r, 20));
    await expect(outcome).rejects.toThrow(/possibly due to previous leader failure/);
  });
});
