// The cycle's scan: Kubernetes' share of nodes from a rotating start, and tie-breaking by an
// injected random. A recording Filter plugin (registered like a custom plugin) shows what is scanned.

import { describe, expect, it } from 'vitest';
import { FakeSchedulerApi } from './fake-api.js';
import { makeNode, makePod } from './fixtures.js';
import { CycleState } from './framework/cycle-state.js';
import type { FilterPlugin, PluginFactory } from './framework/interfaces.js';
import type { NodeInfo } from './framework/node-info.js';
import { Framework } from './framework/runtime.js';
import { SUCCESS, type Status } from './framework/status.js';
import { FailureReporter, MAX_REPORT_WRITES_PER_FLUSH } from './failure-reporter.js';
import { Scheduler } from './scheduler.js';

class Recorder implements FilterPlugin {
  readonly name = 'Recorder';
  seen: string[] = [];
  filter(_s: CycleState, _p: unknown, node: NodeInfo): Status {
    this.seen.push(node.name);
    return SUCCESS;
  }
}

async function setup(nodes: number, percentage: number, random: () => number): Promise<{ scheduler: Scheduler; recorder: Recorder }> {
  const api = new FakeSchedulerApi();
  const recorder = new Recorder();
  const registry = new Map<string, PluginFactory>([['Recorder', () => recorder]]);
  const framework = await Framework.fromConfig(
    { schedulerName: 'default-scheduler', percentageOfNodesToScore: percentage, plugins: [{ name: 'Recorder', weight: 1, args: {} }, { name: 'NodeResourcesFit', weight: 1, args: {} }, { name: 'DefaultBinder', weight: 1, args: {} }] },
    { source: 'test', binder: api, registry },
  );
  const scheduler = new Scheduler({ api, framework, random });
  for (let i = 0; i < nodes; i++) scheduler.cache.addNode(makeNode(`node-${i}`));
  scheduler.cache.updateSnapshot(scheduler.snapshot);
  return { scheduler, recorder };
}

describe('one scheduling cycle', () => {
  it('filters the adaptive share of nodes, each cycle starting where the last one stopped', async () => {
    const { scheduler, recorder } = await setup(1_000, 0, () => 0.5);
    scheduler.schedulePod(new CycleState(), makePod('a', { cpu: '1' }));
    expect(recorder.seen).toHaveLength(420); // 50% − 1000/125 = 42%
    expect(recorder.seen[0]).toBe('node-0');
    expect(recorder.seen.at(-1)).toBe('node-419');
    recorder.seen = [];
    scheduler.schedulePod(new CycleState(), makePod('b', { cpu: '1' }));
    expect(recorder.seen[0]).toBe('node-420');
    recorder.seen = [];
    scheduler.schedulePod(new CycleState(), makePod('c', { cpu: '1' }));
    expect(recorder.seen[0]).toBe('node-840');
    expect(recorder.seen.at(-1)).toBe('node-259'); // wrapped around
  });

  it('breaks ties between equal scores with the injected random (reservoir sampling)', async () => {
    const first = await setup(10, 100, () => 0.999); // never replaces: the first scanned
    expect(first.scheduler.schedulePod(new CycleState(), makePod('a', { cpu: '1' })).nodeName).toBe('node-0');
    const last = await setup(10, 100, () => 0); // always replaces: the last scanned
    expect(last.scheduler.schedulePod(new CycleState(), makePod('a', { cpu: '1' })).nodeName).toBe('node-9');
  });

  it('prefers the node with the best weighted score (LeastAllocated)', async () => {
    const { scheduler } = await setup(3, 100, () => 0.5);
    scheduler.cache.addPod(makePod('busy-0', { cpu: '3', spec: { nodeName: 'node-0' } }));
    scheduler.cache.addPod(makePod('busy-2', { cpu: '1', spec: { nodeName: 'node-2' } }));
    scheduler.cache.updateSnapshot(scheduler.snapshot);
    expect(scheduler.schedulePod(new CycleState(), makePod('a', { cpu: '1' })).nodeName).toBe('node-1');
  });
});

describe('FailureReporter bounds', () => {
  it(`writes at most ${MAX_REPORT_WRITES_PER_FLUSH} objects per flush; the rest wait for the next`, async () => {
    let writes = 0;
    const reporter = new FailureReporter({ setPodScheduledCondition: async () => void writes++, createEvent: async () => void writes++ });
    for (let i = 0; i < 500; i++) reporter.report(makePod(`p${i}`), '0/3 nodes are available: 3 Insufficient cpu.');
    await reporter.flush();
    expect(writes).toBe(MAX_REPORT_WRITES_PER_FLUSH);
    expect(reporter.pendingCount).toBe(400);
    // The same pod failing again with the same message writes nothing new.
    for (let i = 0; i < 100; i++) reporter.report(makePod(`p${i}`), '0/3 nodes are available: 3 Insufficient cpu.');
    const before = writes;
    for (let i = 0; i < 5; i++) await reporter.flush();
    expect(writes - before).toBe(800);
    expect(reporter.pendingCount).toBe(0);
    expect(reporter.eventWrites).toBe(500);
    expect(reporter.conditionWrites).toBe(500);
  });
});
