import { afterEach, describe, expect, it } from 'vitest';
import { encodeCommand, putCommand, txnCommand } from './commands.js';
import type { StoreChange } from './kv-store.js';
import { openTempStore, text, utf8, type TempStore } from './testing.js';

let temp: TempStore | undefined;
afterEach(async () => {
  await temp?.dispose();
  temp = undefined;
});

describe('MvccStore.applyBatch', () => {
  it('applies many entries in one transaction; a rejected one rolls back alone; watchers hear after commit', async () => {
    temp = openTempStore();
    const { store } = temp;
    const heard: StoreChange[] = [];
    store.subscribe((c) => {
      // By the time a listener runs, the whole batch is committed and readable.
      expect(store.appliedIndex).toBe(4);
      heard.push(c);
    });
    const outcomes = store.applyBatch([
      { index: 1, bytes: encodeCommand(putCommand(utf8('a'), utf8('1'))) },
      { index: 2, bytes: undefined },
      { index: 3, bytes: new Uint8Array([0xc1, 0xff]) }, // not a command: rejected, applied as a no-op
      { index: 4, bytes: encodeCommand(putCommand(utf8('b'), utf8('2'))) },
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['applied', 'skipped', 'rejected', 'applied']);
    expect(store.appliedIndex).toBe(4);
    expect(store.currentRevision).toBe(3);
    expect(text(store.range({ key: utf8('b') }).kvs[0]?.value)).toBe('2');
    expect(heard.filter((c) => c.type === 'applied')).toHaveLength(2);
    // Re-applying the batch (a replay after restart) changes nothing.
    const again = store.applyBatch([{ index: 4, bytes: encodeCommand(txnCommand([], [], [])) }]);
    expect(again[0]!.status).toBe('skipped');
    await temp.reopen();
    expect(temp.store.appliedIndex).toBe(4);
    expect(text(temp.store.range({ key: utf8('a') }).kvs[0]?.value)).toBe('1');
  });
});
