// Two schedulers with electors on one (fake) cluster; the active one dies mid-run without releasing
// its lease; the standby takes over once the lease expires and finishes: no pod is left unbound and
// none is bound twice (the fake, like the API, refuses to bind an already-bound pod).

import { describe, expect, it } from 'vitest';
import { FakeSchedulerApi } from './fake-api.js';
import { makeNode, makePod } from './fixtures.js';
import { Framework } from './framework/runtime.js';
import { runScheduler, type RunningScheduler } from './run.js';
import type { Scheduler } from './scheduler.js';

async function until(cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const PODS = 6_000;

describe('scheduler failover', () => {
  it('the standby finishes the run after the active scheduler dies: none unbound, none bound twice', async () => {
    const api = new FakeSchedulerApi({ bindLatencyMs: 3 });
    for (let i = 0; i < 300; i++) api.addNode(makeNode(`node-${i}`, { cpu: '16', memory: '64Gi' }));
    const framework = async (): Promise<Framework> => Framework.load(undefined, { binder: api });
    const election = { leaseDurationMs: 800, renewDeadlineMs: 500, retryPeriodMs: 50 };
    const started: { identity: string; scheduler: Scheduler }[] = [];
    const start = async (identity: string): Promise<RunningScheduler> =>
      runScheduler({ api, identity, framework: await framework(), election, scheduler: { bind: { maxDelayMs: 2, maxBatchSize: 100 } }, onSchedulerStarted: (scheduler) => started.push({ identity, scheduler }) });

    const first = await start('master-1');
    await until(() => first.current() !== undefined);
    const second = await start('master-2');

    // Create pods in batches while scheduling runs.
    let created = 0;
    const creating = (async () => {
      while (created < PODS) {
        for (let i = 0; i < 200 && created < PODS; i++, created++) api.createPod(makePod(`pod-${created}`, { cpu: '100m', memory: '128Mi' }));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    const bound = (): number => [...api.pods.values()].filter((p) => p.spec?.nodeName !== undefined).length;
    await until(() => bound() >= PODS / 3);
    expect(second.current()).toBeUndefined(); // the standby is standing by
    const killedAt = Date.now();
    await first.crash(); // no release: the standby must wait out the lease
    const boundAtKill = bound();
    const batchesAtKill = started[0]?.scheduler.stats.bindBatches;
    expect(boundAtKill).toBeLessThan(PODS);

    await creating;
    await until(() => second.current()?.isRunning === true);
    const takeoverMs = Date.now() - killedAt;
    await until(() => bound() === PODS);

    expect(takeoverMs).toBeGreaterThanOrEqual(election.leaseDurationMs - 100);
    expect(started.map((s) => s.identity)).toEqual(['master-1', 'master-2']);
    expect(api.leaseStore.get('kube-system/flotilla-scheduler')?.spec).toMatchObject({ holderIdentity: 'master-2', leaseTransitions: 1 });
    // Every pod bound to an existing node, exactly once.
    for (const pod of api.pods.values()) expect(api.nodes.has(pod.spec?.nodeName ?? '')).toBe(true);
    expect(api.bindsByPod.size).toBe(PODS);
    expect(Math.max(...api.bindsByPod.values())).toBe(1);
    // The dead scheduler sent nothing after it stopped; the standby did the rest.
    expect(started[0]?.scheduler.stats.bindBatches).toBe(batchesAtKill);
    expect(started[1]?.scheduler.stats.bound).toBeGreaterThanOrEqual(PODS - boundAtKill - 1_000);
    await second.stop();
  });
});

describe('scheduler lease stall', () => {
  it('a renewal slower than renewDeadline that then succeeds restarts the scheduler, which finishes the run', async () => {
    const api = new FakeSchedulerApi({ bindLatencyMs: 2 });
    for (let i = 0; i < 50; i++) api.addNode(makeNode(`node-${i}`, { cpu: '16', memory: '64Gi' }));
    const election = { leaseDurationMs: 800, renewDeadlineMs: 500, retryPeriodMs: 50 };
    const started: Scheduler[] = [];
    const running = await runScheduler({
      api,
      identity: 'master-1',
      framework: await Framework.load(undefined, { binder: api }),
      election,
      scheduler: { bind: { maxDelayMs: 2, maxBatchSize: 100 } },
      onSchedulerStarted: (scheduler) => started.push(scheduler),
    });
    await until(() => running.current()?.isRunning === true);
    const bound = (): number => [...api.pods.values()].filter((p) => p.spec?.nodeName !== undefined).length;
    for (let i = 0; i < 200; i++) api.createPod(makePod(`early-${i}`, { cpu: '100m', memory: '128Mi' }));
    await until(() => bound() === 200);

    // The store stalls: one renewal takes longer than renewDeadline (the fence trips), then succeeds.
    // Pods keep coming meanwhile; the scheduler checks its fence as it works on them.
    api.leaseDelayMs = election.renewDeadlineMs + 300;
    await new Promise((r) => setTimeout(r, election.renewDeadlineMs + 100));
    for (let i = 0; i < 300; i++) api.createPod(makePod(`late-${i}`, { cpu: '100m', memory: '128Mi' }));
    await until(() => started[0]?.isRunning === false);
    api.leaseDelayMs = 0;
    await until(() => bound() === 500);

    // The lease never changed hands: the same elector resigned and started a fresh scheduler.
    expect(started.length).toBeGreaterThanOrEqual(2);
    expect(running.current()?.isRunning).toBe(true);
    expect(api.leaseStore.get('kube-system/flotilla-scheduler')?.spec).toMatchObject({ holderIdentity: 'master-1', leaseTransitions: 0 });
    expect(Math.max(...api.bindsByPod.values())).toBe(1);
    await running.stop();
  });
});

describe('scheduler fence', () => {
  it('a scheduler whose fence fails stops at once and sends no further binds', async () => {
    const api = new FakeSchedulerApi({ bindLatencyMs: 2 });
    for (let i = 0; i < 10; i++) api.addNode(makeNode(`node-${i}`));
    let allowed = true;
    const { Scheduler } = await import('./scheduler.js');
    const scheduler = new Scheduler({ api, framework: await Framework.load(undefined, { binder: api }), fence: () => allowed });
    await scheduler.start();
    for (let i = 0; i < 50; i++) api.createPod(makePod(`a-${i}`, { cpu: '10m' }));
    await until(() => scheduler.stats.bound === 50);
    allowed = false;
    const batches = scheduler.stats.bindBatches;
    for (let i = 0; i < 50; i++) api.createPod(makePod(`b-${i}`, { cpu: '10m' }));
    await until(() => !scheduler.isRunning);
    await new Promise((r) => setTimeout(r, 30));
    expect(scheduler.stats.bindBatches).toBe(batches);
    expect([...api.pods.values()].filter((p) => p.spec?.nodeName !== undefined)).toHaveLength(50);
  });
});
