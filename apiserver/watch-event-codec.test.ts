// The watch event codec's fast paths against protobufjs: the same bytes for every event, the same
// message (or the same refusal) for every frame, the fast layout's and any other.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { apiProtoDir } from '../proto/api/codec.js';
import { Rng } from '../raft/sim/rng.js';
import type { WatchEventMsg } from './api-methods.js';
import { protobufCodec } from './rpc/typed.js';
import { watchEventCodec } from './watch-event-codec.js';

const root = protobuf.parse(readFileSync(join(apiProtoDir(), 'service.proto'), 'utf8'), { keepCase: false }).root;
const plain = protobufCodec<WatchEventMsg>(root.lookupType('flotilla.api.v1.WatchEvent'));
const fast = watchEventCodec(plain);

function randomEvent(rng: Rng): WatchEventMsg {
  const type = rng.pick(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', '', 'ÄNDERT', 'x'.repeat(200)]);
  const raw = new Uint8Array(rng.pick([0, 1, 127, 128, 300, 2_000, 20_000]));
  for (let i = 0; i < raw.length; i++) raw[i] = rng.int(256);
  const resourceVersion = rng.pick([
    '0', '1', '127', '128', String(rng.int(1_000_000_000)), String(2 ** 49 - 1), String(2 ** 49), '999999999999999',
    '1000000000000000', String(Number.MAX_SAFE_INTEGER), '18446744073709551615', '0001',
  ]);
  return rng.chance(0.05) ? { type } : { type, object: { raw, resourceVersion } };
}

/** A decoded message, comparable across Buffer and Uint8Array views. */
function plainMessage(msg: WatchEventMsg): unknown {
  const object = msg.object;
  return { type: msg.type, object: object === undefined || object === null ? null : { raw: [...object.raw], resourceVersion: object.resourceVersion } };
}

function outcome(decode: () => WatchEventMsg): unknown {
  try {
    return plainMessage(decode());
  } catch {
    return 'refused';
  }
}

describe('watchEventCodec', () => {
  it('encodes every event to protobufjs bytes and decodes them to the same message', () => {
    const rng = new Rng(7);
    let fastShaped = 0;
    for (let i = 0; i < 2_000; i++) {
      const event = randomEvent(rng);
      const bytes = fast.encode(event);
      expect(Buffer.compare(bytes, plain.encode(event))).toBe(0);
      expect(plainMessage(fast.decode(bytes))).toEqual(plainMessage(plain.decode(bytes)));
      if (event.type === 'ADDED' && event.object !== undefined && event.object.raw.length > 0) fastShaped++;
    }
    expect(fastShaped).toBeGreaterThan(100);
  });

  it('decodes every mutated frame as protobufjs does, or refuses it as protobufjs does', () => {
    const rng = new Rng(11);
    for (let i = 0; i < 3_000; i++) {
      const bytes = Uint8Array.from(plain.encode({ type: 'MODIFIED', object: { raw: new Uint8Array(rng.pick([1, 5, 200])).fill(7), resourceVersion: String(1 + rng.int(1e9)) } }));
      let mutated: Uint8Array;
      switch (rng.int(4)) {
        case 0:
          mutated = bytes.slice();
          mutated[rng.int(mutated.length)] = rng.int(256);
          break;
        case 1:
          mutated = bytes.subarray(0, rng.int(bytes.length));
          break;
        case 2:
          mutated = Uint8Array.from([...bytes, ...Array.from({ length: 1 + rng.int(4) }, () => rng.int(256))]);
          break;
        default: {
          mutated = bytes.slice();
          const at = rng.int(mutated.length);
          mutated[at] = mutated[at]! ^ (1 << rng.int(8));
        }
      }
      expect(outcome(() => fast.decode(mutated))).toEqual(outcome(() => plain.decode(mutated)));
    }
  });
});
