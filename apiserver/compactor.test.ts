import { afterEach, beforeEach, expect, test } from 'vitest';
import { LocalBackend } from '../store/local-backend.js';
import { ManualClock } from '../store/etcd/testing.js';
import { type TempStore, openTempStore, utf8 } from '../store/mvcc/testing.js';
import { CompactedError } from '../store/mvcc/errors.js';
import { COMPACTION_STEP_ENTRIES } from '../store/mvcc/compaction.js';
import { Compactor } from './compactor.js';

const silent = { info: () => {}, warn: () => {}, error: () => {} };
let temp: TempStore;
let backend: LocalBackend;

beforeEach(() => {
  temp = openTempStore('flotilla-compactor-');
  backend = new LocalBackend({ store: temp.store, clock: new ManualClock(), leaseTickMs: 3_600_000 });
});
afterEach(async () => {
  backend.close();
  await temp.dispose();
});

test('one of several masters compacts each round, up to the revision of the round before', async () => {
  const clock = new ManualClock();
  const a = new Compactor(backend, clock, silent);
  const b = new Compactor(backend, clock, silent);
  for (let i = 0; i < 5; i++) await backend.propose({ type: 'put', key: utf8(`k${i}`), value: utf8('v') });
  const r1 = await Promise.all([a.round(), b.round()]);
  expect(r1).toEqual([0, 0]); // the first round only records a revision
  const recorded = backend.header().revision - 1;
  for (let i = 0; i < 5; i++) await backend.propose({ type: 'put', key: utf8(`k${i}`), value: utf8('w') });
  // b lost round 1, so it follows the marker; a's compare is current: one of them wins round 2.
  const r2 = [await a.round(), await b.round()];
  expect(r2.filter((r) => r > 0)).toEqual([recorded]);
  await expect(backend.range({ key: utf8('k0'), revision: recorded - 1 }, 'serializable')).rejects.toThrow(CompactedError);
  expect((await backend.range({ key: utf8('k0') }, 'serializable')).kvs).toHaveLength(1);
});

test('a compaction bigger than one step is finished in the background when nothing else writes', async () => {
  const clock = new ManualClock();
  const a = new Compactor(backend, clock, silent);
  for (let i = 0; i < 3 * COMPACTION_STEP_ENTRIES; i++) await backend.propose({ type: 'put', key: utf8(`k${i % 10}`), value: utf8(String(i)) });
  await a.round();
  await backend.propose({ type: 'put', key: utf8('k0'), value: utf8('last') });
  expect(await a.round()).toBeGreaterThan(0);
  expect(backend.header().compacting).toBe(true);
  await a.finished();
  expect(backend.header().compacting).toBe(false);
  // Of k0..k9 only each key's version at the compact revision stays, then k0's last one and the marker's.
  expect(temp.store.stats().historyEntries).toBeLessThan(20);
  a.stop();
});
