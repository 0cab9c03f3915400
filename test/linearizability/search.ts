// The search behind checkLinearizable, for one partition: Wing & Gong's algorithm with Lowe's
// memoization, as in Knossos and Porcupine, extended for operations of unknown outcome.
//
// The search walks a doubly linked list of the call and return events of the operations with a
// known outcome, sorted by time. At a call it tries to linearize that operation next: if the model
// accepts it and the resulting configuration is new, the call and its return are lifted out of the
// list and the walk restarts from the head. Reaching a return means that operation had to be
// linearized before anything invoked after it returned. Before giving up there, the search tries
// the operations of unknown outcome invoked by then; if none works either, it undoes the latest
// choice and tries the next candidate after it. An empty stack then means no linearization exists.
//
// Operations of unknown outcome (returnTime +Infinity) stay out of the list: they constrain the
// order of nothing and need never be linearized, so they are candidates from their call onwards,
// tried only after every known candidate. Three reductions keep them from multiplying the search:
// - Symmetry: unknown operations sharing one input object (===) behave identically, so they are
//   used in call order only; any linearization can swap them into that order, since the earlier
//   call allows every position the later one does. Model.partition can share input objects to
//   enable this (the key-value model does, for writes of values nobody observed).
// - Placement: an unknown operation u is placed only right before an operation that needs it (see
//   unneededAfter); any linearization can be rearranged into that form.
// - Iterative deepening on how many unknown operations take effect (0, 1, 2, 4, ... all): most
//   histories need few or none, and a search free to use them at every dead end wanders far.
//   A configuration whose subtree failed without the limit cutting anything that could have
//   continued (see couldFollow) is 'failed' for any limit and stays cached for later passes, so
//   a pass repeats only what the previous limit cut short. A pass that failed without any such
//   cut proves the history illegal.
//
// Memoization: a configuration is (known operations linearized, unknown operations linearized,
// model state). Its future depends on nothing else. If (K, U, s) was reached before, then
// (K, U', s) with U a subset of U' can be pruned: any completion of the latter completes the
// former too, because an unknown operation left out blocks nothing and may stay out forever. The
// earlier configuration was either explored to failure (and is 'incomplete' if a limit cut that
// short, which then propagates to whatever it prunes) or is still being explored on the current
// path, where its other branches cover the completion. With no unknown operations this is exactly
// Lowe's cache of (linearized set, state) pairs.
//
// Steps: one per event or unknown candidate visited, and one per couldFollow look-ahead.

import { ConfigurationCache, OperationSet, type Configuration } from './configuration-cache.js';
import type { Operation } from './history.js';
import type { Model } from './model.js';

/**
 * A call or return event of an operation with a known outcome. For a call, match is its return
 * event, which always lies later in the list (calls sort before returns at equal times), so a
 * call's next is never null.
 */
class EventNode<I, O> {
  prev: EventNode<I, O> | null = null;
  next: EventNode<I, O> | null = null;

  constructor(
    /** The operation's index among the partition's known operations; -1 for the list head. */
    readonly index: number,
    readonly op: Operation<I, O> | null,
    readonly time: number,
    readonly match: EventNode<I, O> | null,
    /** A random 32-bit value per operation: a set's hash is the XOR over its members (Zobrist). */
    readonly zobrist: number,
  ) {}
}

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) | 0;
}

function combineHashes(setHash: number, stateHash: number): number {
  return (setHash ^ mix32(stateHash ^ 0x27d4eb2d)) | 0;
}

/**
 * The head of a list holding every known operation's call and return, sorted by time. At equal
 * times a call sorts before a return: operations that merely touch are treated as concurrent,
 * which can only accept more histories, so clock granularity never causes a false 'illegal'.
 */
function buildEventList<I, O>(known: readonly Operation<I, O>[]): EventNode<I, O> {
  const events: EventNode<I, O>[] = [];
  known.forEach((op, index) => {
    const zobrist = mix32(Math.imul(index + 1, 0x9e3779b9));
    const ret = new EventNode(index, op, op.returnTime, null, zobrist);
    events.push(new EventNode(index, op, op.callTime, ret, zobrist), ret);
  });
  events.sort((a, b) => {
    const byTime = a.time - b.time;
    if (byTime !== 0) return byTime;
    const aCall = a.match !== null;
    if (aCall !== (b.match !== null)) return aCall ? -1 : 1;
    return a.index - b.index;
  });
  const head = new EventNode<I, O>(-1, null, -Infinity, null, 0);
  let tail = head;
  for (const event of events) {
    tail.next = event;
    event.prev = tail;
    tail = event;
  }
  return head;
}

function unlink<I, O>(node: EventNode<I, O>): void {
  // Every event has a prev (at least the head); only the last event lacks a next.
  if (node.prev !== null) node.prev.next = node.next;
  if (node.next !== null) node.next.prev = node.prev;
}

/** Undoes unlink(node), provided every later unlink was undone first (stack order). */
function relink<I, O>(node: EventNode<I, O>): void {
  if (node.prev !== null) node.prev.next = node;
  if (node.next !== null) node.next.prev = node;
}

/** The point where the search got furthest (most known operations linearized) before failing. */
export interface Deepest<State, I, O> {
  readonly knownLinearized: number;
  readonly prefix: readonly Operation<I, O>[];
  readonly state: State;
  readonly blocking: Operation<I, O>;
  readonly candidates: readonly Operation<I, O>[];
}

export type PartitionVerdict<State, I, O> =
  | { readonly kind: 'ok'; readonly steps: number }
  | { readonly kind: 'illegal'; readonly steps: number; readonly deepest: Deepest<State, I, O> }
  | { readonly kind: 'unknown'; readonly steps: number };

/**
 * Whether, with an unknown operation u applied in state `before`, linearizing next right after it
 * (reaching state `after`) is pointless: next could go before u instead (they commute), or u
 * could be dropped (next overwrites its effect). Since u may take effect at any time after its
 * call, any linearization can be rearranged, moving such a u later or dropping it, so that u
 * comes only right before an operation that needs it; the search considers only those.
 */
function unneededAfter<State, I, O>(
  model: Model<State, I, O>,
  u: Operation<I, O>,
  before: State,
  next: Operation<I, O>,
  after: State,
): boolean {
  const withoutU = model.step(before, next.input, next.outcome);
  if (!withoutU.ok) return false;
  if (model.equal(withoutU.next, after)) return true;
  const uAfterNext = model.step(withoutU.next, u.input, u.outcome);
  return uAfterNext.ok && model.equal(uAfterNext.next, after);
}

/**
 * A pass's verdict. 'limited': no linearization within the pass's limit on unknown operations,
 * but the limit cut the search short; 'illegal': none at all.
 */
interface PassVerdict {
  readonly kind: 'ok' | 'illegal' | 'limited' | 'unknown';
  readonly steps: number;
}

/**
 * A linearization choice on the search stack, with what is needed to undo it and resume, and
 * whether the limit on unknown operations cut the subtree below it.
 */
type Choice<State, I, O> =
  | {
      readonly kind: 'known';
      readonly call: EventNode<I, O>;
      readonly stateBefore: State;
      /** The cached configuration this choice reached (null past the cache's memory bound). */
      readonly reached: Configuration | null;
      incomplete: boolean;
    }
  | {
      readonly kind: 'unknown';
      /** Its index in unknownOps. */
      readonly index: number;
      /** The first remaining return when it was chosen: the bound on unknown candidates. */
      readonly firstReturn: EventNode<I, O>;
      readonly stateBefore: State;
      incomplete: boolean;
    };

/** Searches one partition for a linearization, giving up with 'unknown' after maxSteps steps. */
export function searchPartition<State, I, O>(
  model: Model<State, I, O>,
  ops: readonly Operation<I, O>[],
  maxSteps: number,
  maxCacheBytes: number,
): PartitionVerdict<State, I, O> {
  const knownOps = ops.filter((op) => op.outcome.kind === 'ok');
  // Sorted by call, so the unknown candidates at any point are a prefix of this array.
  const unknownOps = ops.filter((op) => op.outcome.kind !== 'ok').sort((a, b) => a.callTime - b.callTime);
  // sameInputBefore[j]: the latest i < j with unknownOps[i].input === unknownOps[j].input, or -1.
  // Invariant (symmetry): the linearized members of such a group are a prefix of it in call order.
  const sameInputBefore = new Int32Array(unknownOps.length).fill(-1);
  const lastWithInput = new Map<I, number>();
  unknownOps.forEach((op, j) => {
    sameInputBefore[j] = lastWithInput.get(op.input) ?? -1;
    lastWithInput.set(op.input, j);
  });
  const head = buildEventList(knownOps);
  const cache = new ConfigurationCache<State>((a, b) => model.equal(a, b), maxCacheBytes);
  let deepest: Deepest<State, I, O> | null = null;

  let steps = 0;
  for (let limit = 0; ; limit = Math.min(unknownOps.length, Math.max(1, limit * 2))) {
    const verdict = searchWithUnknownLimit(limit, maxSteps - steps);
    steps += verdict.steps;
    if (verdict.kind === 'limited' && limit < unknownOps.length) {
      cache.retainFailed();
      continue;
    }
    if (verdict.kind === 'ok' || verdict.kind === 'unknown') return { kind: verdict.kind, steps };
    if (deepest === null) throw new Error('linearizability checker: failed without reaching a return');
    return { kind: 'illegal', steps, deepest };
  }

  /** One depth-first search in which at most `limit` unknown operations take effect. */
  function searchWithUnknownLimit(limit: number, maxSteps: number): PassVerdict {
    // Invariants: known and unknown hold exactly the operations on stack, knownHash is the XOR of
    // the zobrist values of known, knownCount and unknownCount their sizes; state is the model
    // state after applying stack in order; the list holds the events of known operations not in
    // known; a cached configuration is 'exploring' iff the choice that reached it is on stack.
    const known = OperationSet.empty(knownOps.length);
    const unknown = OperationSet.empty(unknownOps.length);
    let knownHash = 0;
    let knownCount = 0;
    let unknownCount = 0;
    const stack: Choice<State, I, O>[] = [];
    let rootIncomplete = false;
    let state = model.init();
    let steps = 0;

    /** Records that the limit, or a configuration it cut short, pruned the current subtree. */
    const markIncomplete = (): void => {
      const top = stack[stack.length - 1];
      if (top === undefined) rootIncomplete = true;
      else top.incomplete = true;
    };

    /** unneededAfter, for the unknown operation on top of the stack (false if there is none). */
    const unneededUnknownBefore = (next: Operation<I, O>, after: State): boolean => {
      const top = stack[stack.length - 1];
      if (top === undefined || top.kind !== 'unknown') return false;
      const u = unknownOps[top.index];
      return u !== undefined && unneededAfter(model, u, top.stateBefore, next, after);
    };

    /**
     * Whether anything could follow the unknown operation unknownOps[index], applied in state
     * `before` (reaching `after`) while firstReturn is the first remaining return. When the limit
     * forbids that operation, only a subtree that could continue means the limit cut the search.
     */
    const couldFollow = (index: number, before: State, after: State, firstReturn: EventNode<I, O>): boolean => {
      steps++; // one step however many candidates it visits: at most one per candidate tried
      const u = unknownOps[index];
      if (u === undefined) return false;
      const viable = (next: Operation<I, O>): boolean => {
        const result = model.step(after, next.input, next.outcome);
        return result.ok && !unneededAfter(model, u, before, next, result.next);
      };
      for (let e = head.next; e !== null && e !== firstReturn; e = e.next) {
        if (e.match !== null && e.op !== null && viable(e.op)) return true;
      }
      for (let j = 0; j < unknownOps.length; j++) {
        const next = unknownOps[j];
        if (next === undefined || next.callTime > firstReturn.time) break;
        const sameBefore = sameInputBefore[j] ?? -1;
        if (j === index || unknown.has(j) || (sameBefore >= 0 && sameBefore !== index && !unknown.has(sameBefore))) continue;
        if (viable(next)) return true;
      }
      return false;
    };

    /** Whether a configuration reached before subsumes this one; if so the caller prunes it. */
    const subsumed = (hash: number, next: State): boolean => {
      const earlier = cache.findSubsuming(hash, known, unknown, next);
      if (earlier === null) return false;
      if (earlier.status === 'incomplete') markIncomplete();
      return true;
    };

    // Where the walk is: `event` in the list; once it is a return (the first remaining one),
    // unknownCursor >= 0 is the next unknown operation to try before backtracking.
    let event = head.next;
    let unknownCursor = -1;
    for (;;) {
      if (event === null) return { kind: 'ok', steps }; // every known operation is linearized
      if (++steps > maxSteps) return { kind: 'unknown', steps: steps - 1 };
      const op = event.op;
      if (op === null) throw new Error('linearizability checker: the list head was visited');

      if (event.match !== null) {
        // A call: try to linearize op next.
        const result = model.step(state, op.input, op.outcome);
        if (result.ok && !unneededUnknownBefore(op, result.next)) {
          known.add(event.index);
          const hash = combineHashes(knownHash ^ event.zobrist, model.hash(result.next));
          if (!subsumed(hash, result.next)) {
            const reached = cache.add(hash, known, unknown, result.next);
            stack.push({ kind: 'known', call: event, stateBefore: state, reached, incomplete: false });
            unlink(event);
            unlink(event.match);
            knownHash ^= event.zobrist;
            knownCount++;
            state = result.next;
            event = head.next;
            continue;
          }
          known.delete(event.index);
        }
        event = event.next;
        continue;
      }

      // The first remaining return: no known candidate works. Try the unknown ones invoked by then.
      if (unknownCursor < 0) unknownCursor = 0;
      const candidate = unknownOps[unknownCursor];
      if (candidate !== undefined && candidate.callTime <= event.time) {
        const index = unknownCursor++;
        if (unknown.has(index)) continue;
        const before = sameInputBefore[index] ?? -1;
        if (before >= 0 && !unknown.has(before)) continue;
        const result = model.step(state, candidate.input, candidate.outcome);
        if (!result.ok || unneededUnknownBefore(candidate, result.next)) continue;
        if (unknownCount >= limit) {
          if (couldFollow(index, state, result.next, event)) {
            markIncomplete();
            unknownCursor = unknownOps.length; // the search is cut here anyway
          }
          continue;
        }
        unknown.add(index);
        // Checked but not cached: what may follow depends on this choice being on top of the stack.
        if (subsumed(combineHashes(knownHash, model.hash(result.next)), result.next)) {
          unknown.delete(index);
          continue;
        }
        stack.push({ kind: 'unknown', index, firstReturn: event, stateBefore: state, incomplete: false });
        unknownCount++;
        state = result.next;
        event = head.next;
        unknownCursor = -1;
        continue;
      }

      // Nothing can go next, yet op had to. Undo the latest choice.
      if (deepest === null || knownCount > deepest.knownLinearized) {
        deepest = {
          knownLinearized: knownCount,
          prefix: stack.map((c) => (c.kind === 'known' ? c.call.op : unknownOps[c.index]) ?? op),
          state,
          blocking: op,
          candidates: candidatesBefore(event),
        };
      }
      const undo = stack.pop();
      if (undo === undefined) return { kind: rootIncomplete ? 'limited' : 'illegal', steps };
      if (undo.incomplete) markIncomplete();
      state = undo.stateBefore;
      if (undo.kind === 'known') {
        if (undo.reached !== null) undo.reached.status = undo.incomplete ? 'incomplete' : 'failed';
        const call = undo.call;
        if (call.match !== null) relink(call.match);
        relink(call);
        known.delete(call.index);
        knownHash ^= call.zobrist;
        knownCount--;
        event = call.next;
        unknownCursor = -1;
      } else {
        unknown.delete(undo.index);
        unknownCount--;
        event = undo.firstReturn;
        unknownCursor = undo.index + 1;
      }
    }

    /** Every operation that could have been linearized next, given the first remaining return. */
    function candidatesBefore(firstReturn: EventNode<I, O>): Operation<I, O>[] {
      const candidates: Operation<I, O>[] = [];
      for (let e = head.next; e !== null && e !== firstReturn; e = e.next) {
        if (e.match !== null && e.op !== null) candidates.push(e.op);
      }
      unknownOps.forEach((op, i) => {
        if (op.callTime <= firstReturn.time && !unknown.has(i)) candidates.push(op);
      });
      return candidates;
    }
  }
}
