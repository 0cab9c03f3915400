// What a pod asks for, computed once per pod object and remembered (the scheduler sees the same
// object in the queue, the cycle and the cache). Kubernetes' rules: the sum over containers, but
// at least the largest init container (they run one at a time, before the others); a pod counts 1
// against the node's pod allowance. The "non-zero" figures give a container without a request
// Kubernetes' defaults (100m CPU, 200Mi), so scoring spreads best-effort pods instead of piling
// them on one node; filtering uses the real requests.

import { cpuMillis, memoryBytes } from '../../apiserver/resources/quantity.js';
import type { Container, Pod } from '../../proto/api/types.js';

export const DEFAULT_MILLI_CPU_REQUEST = 100;
export const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024;

/** Bound on the memo of parsed quantity strings (they repeat: "500m", "1Gi"). */
export const MAX_QUANTITY_MEMO = 4_096;

export interface PodResources {
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  readonly nonZeroCpuMillis: number;
  readonly nonZeroMemoryBytes: number;
}

export class PodResourcesError extends Error {
  override readonly name = 'PodResourcesError';
  constructor(readonly pod: string, readonly field: string, cause: unknown) {
    super(`pod ${pod}: ${field}: ${(cause as Error).message}`, { cause });
  }
}

const cpuMemo = new Map<string, number>();
const memoryMemo = new Map<string, number>();

function memoized(memo: Map<string, number>, parse: (q: string) => number, quantity: string): number {
  let value = memo.get(quantity);
  if (value === undefined) {
    value = parse(quantity);
    if (memo.size >= MAX_QUANTITY_MEMO) memo.clear();
    memo.set(quantity, value);
  }
  return value;
}

interface Amounts {
  cpu: number;
  memory: number;
  nonZeroCpu: number;
  nonZeroMemory: number;
}

function containerAmounts(c: Container, podName: string, field: string): Amounts {
  const requests = c.resources?.requests;
  const cpuText = requests?.['cpu'];
  const memText = requests?.['memory'];
  let cpu = 0;
  let memory = 0;
  try {
    if (cpuText !== undefined) cpu = memoized(cpuMemo, cpuMillis, cpuText);
  } catch (err) {
    throw new PodResourcesError(podName, `${field}.resources.requests.cpu`, err);
  }
  try {
    if (memText !== undefined) memory = memoized(memoryMemo, memoryBytes, memText);
  } catch (err) {
    throw new PodResourcesError(podName, `${field}.resources.requests.memory`, err);
  }
  return {
    cpu,
    memory,
    nonZeroCpu: cpuText === undefined ? DEFAULT_MILLI_CPU_REQUEST : cpu,
    nonZeroMemory: memText === undefined ? DEFAULT_MEMORY_REQUEST : memory,
  };
}

// Keyed by the containers array when there are no init containers: the assumed copy of a pod and
// the bound pod the watch brings back often share it, so one computation serves all three.
const memo = new WeakMap<object, PodResources>();

function memoKey(pod: Pod): object {
  const spec = pod.spec;
  return spec !== undefined && spec.initContainers === undefined && spec.containers !== undefined ? spec.containers : pod;
}

/** The pod's requests; throws PodResourcesError naming the field when a quantity is malformed. */
export function podResources(pod: Pod): PodResources {
  const key = memoKey(pod);
  const known = memo.get(key);
  if (known !== undefined) return known;
  const name = `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
  const sum: Amounts = { cpu: 0, memory: 0, nonZeroCpu: 0, nonZeroMemory: 0 };
  const containers = pod.spec?.containers ?? [];
  for (let i = 0; i < containers.length; i++) {
    const c = containers[i];
    if (c === undefined) continue;
    const a = containerAmounts(c, name, `spec.containers[${i}]`);
    sum.cpu += a.cpu;
    sum.memory += a.memory;
    sum.nonZeroCpu += a.nonZeroCpu;
    sum.nonZeroMemory += a.nonZeroMemory;
  }
  const inits = pod.spec?.initContainers ?? [];
  for (let i = 0; i < inits.length; i++) {
    const c = inits[i];
    if (c === undefined) continue;
    const a = containerAmounts(c, name, `spec.initContainers[${i}]`);
    sum.cpu = Math.max(sum.cpu, a.cpu);
    sum.memory = Math.max(sum.memory, a.memory);
    sum.nonZeroCpu = Math.max(sum.nonZeroCpu, a.nonZeroCpu);
    sum.nonZeroMemory = Math.max(sum.nonZeroMemory, a.nonZeroMemory);
  }
  const resources: PodResources = Object.freeze({
    cpuMillis: sum.cpu,
    memoryBytes: sum.memory,
    nonZeroCpuMillis: sum.nonZeroCpu,
    nonZeroMemoryBytes: sum.nonZeroMemory,
  });
  memo.set(key, resources);
  return resources;
}

/** For the cache, which must account for every pod it is told about: a malformed request counts 0. */
export function podResourcesOrZero(pod: Pod): PodResources {
  try {
    return podResources(pod);
  } catch (err) {
    if (err instanceof PodResourcesError) return { cpuMillis: 0, memoryBytes: 0, nonZeroCpuMillis: 0, nonZeroMemoryBytes: 0 };
    throw err;
  }
}
