// Test support: a store in a throwaway LMDB environment under the OS temp directory. Kept free of
// test-framework imports so it compiles with the rest of the package.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RootDatabase, open } from 'lmdb';
import { MvccStore } from './kv-store.js';
import { MVCC_DATABASE_NAMES } from './tables.js';

/** Room for the store's sub-databases plus a few of a neighbour's (the Raft log in production). */
const TEST_MAX_DBS = MVCC_DATABASE_NAMES.length + 4;

export interface TempStore {
  readonly dir: string;
  root: RootDatabase;
  store: MvccStore;
  /** Closes and reopens the environment, as a restarted master would. */
  reopen(): Promise<void>;
  /** Closes the environment and deletes the directory. */
  dispose(): Promise<void>;
}

function openRoot(dir: string): RootDatabase {
  // noSync: these tests never cut power, and fsync per apply would only slow them down.
  return open({ path: dir, maxDbs: TEST_MAX_DBS, noSync: true });
}

export function openTempStore(prefix = 'flotilla-mvcc-'): TempStore {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const root = openRoot(dir);
  const temp: TempStore = {
    dir,
    root,
    store: MvccStore.open(root),
    async reopen() {
      await temp.root.close();
      temp.root = openRoot(dir);
      temp.store = MvccStore.open(temp.root);
    },
    async dispose() {
      await temp.root.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return temp;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The UTF-8 bytes of a string: keys and values in tests. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Bytes decoded as UTF-8, for readable assertions. */
export function text(bytes: Uint8Array | undefined): string {
  return bytes === undefined ? '<undefined>' : decoder.decode(bytes);
}
