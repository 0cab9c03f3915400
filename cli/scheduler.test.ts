import { describe, expect, test } from 'vitest';
import { parseParentMessage } from './scheduler.js';

describe("the scheduler process's messages from its master", () => {
  test('a raft-role message is taken', () => {
    expect(parseParentMessage({ type: 'raft-role', leader: true })).toEqual({ type: 'raft-role', leader: true });
    expect(parseParentMessage({ type: 'raft-role', leader: false, extra: 1 })).toEqual({ type: 'raft-role', leader: false });
  });

  test('anything else is refused', () => {
    for (const m of [undefined, null, 'raft-role', 1, [], {}, { type: 'raft-role' }, { type: 'raft-role', leader: 'yes' }, { type: 'other', leader: true }]) {
      expect(parseParentMessage(m), JSON.stringify(m)).toBeUndefined();
    }
  });
});
