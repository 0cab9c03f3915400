// Per-cycle data that plugins pass from one extension point to the next (PreFilter computes the
// pod's request once; Filter reads it per node). Keys are typed, so a read needs no cast.

export interface StateKey<T> {
  readonly name: string;
  /** Never read: it only carries T. */
  readonly _type?: T;
}

export function stateKey<T>(name: string): StateKey<T> {
  return Object.freeze({ name });
}

export class CycleState {
  private readonly values = new Map<StateKey<unknown>, unknown>();
  /** Plugins whose PreFilter returned Skip: their Filter does not run this cycle. */
  readonly skipFilter = new Set<string>();
  /** Plugins whose PreScore returned Skip: their Score does not run this cycle. */
  readonly skipScore = new Set<string>();

  write<T>(key: StateKey<T>, value: T): void {
    this.values.set(key, value);
  }

  read<T>(key: StateKey<T>): T | undefined {
    return this.values.get(key) as T | undefined;
  }

  delete(key: StateKey<unknown>): void {
    this.values.delete(key);
  }
}
