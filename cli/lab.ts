// The local lab's layout: where `flotilla up` keeps its masters' data and how other commands find
// them (lab.json in the lab folder).

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const DEFAULT_LAB_DIR = '.flotilla/lab';

export interface LabMember {
  readonly name: string;
  /** Peers and status. */
  readonly listen: string;
  readonly etcd: string;
  readonly dataDir: string;
  readonly logFile: string;
}

export interface LabLayout {
  readonly dir: string;
  readonly members: readonly LabMember[];
}

export function labLayout(dir: string, basePeerPort: number, baseEtcdPort: number): LabLayout {
  const abs = resolve(dir);
  const members = [1, 2, 3].map((i) => ({
    name: `m${i}`,
    listen: `127.0.0.1:${basePeerPort + i - 1}`,
    etcd: `127.0.0.1:${baseEtcdPort + (i - 1) * 10}`,
    dataDir: join(abs, `m${i}`),
    logFile: join(abs, `m${i}.log`),
  }));
  return { dir: abs, members };
}

export function readLab(dir: string): LabLayout | undefined {
  const file = join(resolve(dir), 'lab.json');
  if (!existsSync(file)) return undefined;
  const v = JSON.parse(readFileSync(file, 'utf8')) as LabLayout;
  if (!Array.isArray(v.members)) throw new Error(`${file} is not a lab description (no members)`);
  return v;
}
