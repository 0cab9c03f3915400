// Random key-value histories that are linearizable by construction, for testing the checker: a
// simulated store applies each operation atomically at a linearization point strictly inside the
// operation's interval, while clients overlap. Also the corruptions that provably break them.

import type { ClientId, KvInput, KvOperation, KvOutput } from './history.js';

/** A small, seedable PRNG (mulberry32), so a failing seed can be replayed. */
export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = seed | 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) | 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(bound: number): number {
    return Math.floor(this.next() * bound);
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('Rng.pick: no items');
    return item;
  }
}

export interface RandomHistoryOptions {
  readonly seed: number;
  readonly operations: number;
  readonly clients: number;
  readonly keys: number;
  /** Chance that a pending operation times out when its client is picked: outcome unknown. */
  readonly unknownRate: number;
}

interface InFlight {
  readonly clientId: ClientId;
  readonly input: KvInput;
  readonly callTime: number;
  /** Set at the linearization point. */
  output: KvOutput | null;
}

/**
 * Every written value is unique ("<key>-<n>"), so corruptions can reason about who wrote what.
 * Time is a logical counter; every event gets its own tick, so linearization points are strictly
 * inside intervals. A timed-out operation may still take effect later, or never (as in a real
 * store, where the request can sit in a leader's log after the client gave up).
 */
export function randomLinearizableHistory(opts: RandomHistoryOptions): KvOperation[] {
  const rng = new Rng(opts.seed);
  const keys = Array.from({ length: opts.keys }, (_, i) => `k${i}`);
  const store = new Map<string, string | null>(keys.map((k) => [k, null]));
  const written = new Map<string, string[]>(keys.map((k) => [k, []]));
  const inFlight = new Map<number, InFlight>(); // by client index
  const limbo: InFlight[] = []; // timed out, not yet applied
  const history: Omit<KvOperation, 'id'>[] = [];
  let time = 0;
  let invoked = 0;
  let valueCounter = 0;

  const apply = (op: InFlight): KvOutput => {
    const key = op.input.key;
    const current = store.get(key) ?? null;
    switch (op.input.type) {
      case 'get':
        return { type: 'get', value: current };
      case 'put':
        store.set(key, op.input.value);
        return { type: 'put' };
      case 'cas': {
        const succeeded = current === op.input.expected;
        if (succeeded) store.set(key, op.input.value);
        return { type: 'cas', succeeded };
      }
    }
  };

  const newInput = (): KvInput => {
    const key = rng.pick(keys);
    const roll = rng.next();
    if (roll < 0.45) return { type: 'get', key };
    const value = `${key}-${++valueCounter}`;
    written.get(key)?.push(value);
    if (roll < 0.75) return { type: 'put', key, value };
    const earlier = written.get(key) ?? [];
    const choice = rng.next();
    const expected =
      choice < 0.5 ? (store.get(key) ?? null) : choice < 0.7 || earlier.length === 0 ? null : rng.pick(earlier);
    return { type: 'cas', key, expected, value };
  };

  while (invoked < opts.operations || inFlight.size > 0) {
    time++;
    if (limbo.length > 0 && rng.next() < 0.1) {
      const late = limbo.splice(rng.int(limbo.length), 1)[0];
      if (late !== undefined && rng.next() < 0.5) apply(late); // else it never takes effect
      continue;
    }
    const client = rng.int(opts.clients);
    const op = inFlight.get(client);
    if (op === undefined) {
      if (invoked < opts.operations) {
        inFlight.set(client, { clientId: `c${client}`, input: newInput(), callTime: time, output: null });
        invoked++;
      }
    } else if (rng.next() < opts.unknownRate) {
      // The client gives up; if the store has not applied the operation yet, it still may.
      const { clientId, input, callTime } = op;
      history.push({ clientId, input, callTime, returnTime: Infinity, outcome: { kind: 'unknown' } });
      if (op.output === null) limbo.push(op);
      inFlight.delete(client);
    } else if (op.output === null) {
      op.output = apply(op);
    } else {
      const { clientId, input, callTime, output } = op;
      history.push({ clientId, input, callTime, returnTime: time, outcome: { kind: 'ok', output } });
      inFlight.delete(client);
    }
  }
  return history.sort((a, b) => a.callTime - b.callTime).map((op, id) => ({ id, ...op }));
}

/** The completed gets of a history, by position. */
function completedGets(history: readonly KvOperation[]): number[] {
  const positions: number[] = [];
  history.forEach((op, i) => {
    if (op.input.type === 'get' && op.outcome.kind === 'ok') positions.push(i);
  });
  return positions;
}

function withReadValue(history: readonly KvOperation[], position: number, value: string): KvOperation[] {
  return history.map((op, i) => (i === position ? { ...op, outcome: { kind: 'ok', output: { type: 'get', value } } } : op));
}

/**
 * Makes one completed get return a value no operation wrote: no state of any linearization holds
 * it, so the result is provably not linearizable. Null if the history has no completed get.
 */
export function corruptWithUnwrittenValue(history: readonly KvOperation[], rng: Rng): KvOperation[] | null {
  const gets = completedGets(history);
  if (gets.length === 0) return null;
  return withReadValue(history, rng.pick(gets), 'never-written');
}

/**
 * Makes one completed get return the value of a write invoked only after that get returned. Values
 * are unique, so the key holds that value only after the write's linearization point, which lies
 * after its call and so after the get: provably not linearizable. Null if no such pair exists.
 */
export function corruptWithFutureValue(history: readonly KvOperation[], rng: Rng): KvOperation[] | null {
  const pairs: [number, string][] = [];
  for (const g of completedGets(history)) {
    const get = history[g];
    if (get === undefined) continue;
    for (const w of history) {
      if (w.input.type !== 'get' && w.input.key === get.input.key && w.callTime > get.returnTime) {
        pairs.push([g, w.input.value]);
      }
    }
  }
  if (pairs.length === 0) return null;
  const [position, value] = rng.pick(pairs);
  return withReadValue(history, position, value);
}
