import { describe, expect, it } from 'vitest';
import { podPhaseOf, terminationReason, type ContainerObservation, type Termination } from './pod-status.js';
import { imageArchiveFileName, normalizeImageRef } from './runtime/image-ref.js';
import { parseSimCommand } from './runtime/simulated.js';

const term = (exitCode: number): Termination => ({ exitCode, reason: terminationReason(exitCode, false), startedAt: 0, finishedAt: 1, containerId: 'x' });
const running: ContainerObservation = { name: 'a', image: 'i', restartCount: 0, containerId: 'x', state: { kind: 'running', startedAt: 0 }, lastTermination: undefined, ready: true };
const creating: ContainerObservation = { ...running, state: { kind: 'waiting', reason: 'ContainerCreating' } };
const done = (code: number): ContainerObservation => ({ ...running, state: { kind: 'terminated', termination: term(code) }, lastTermination: term(code) });
const backingOff: ContainerObservation = { ...running, state: { kind: 'waiting', reason: 'CrashLoopBackOff' }, lastTermination: term(1) };

describe('podPhaseOf (Kubernetes getPhase)', () => {
  it('is Pending while a container never ran, Running while one runs', () => {
    expect(podPhaseOf([creating, running], 'Always')).toBe('Pending');
    expect(podPhaseOf([running, done(0)], 'Never')).toBe('Running');
  });
  it('decides by restart policy and exit codes once none runs', () => {
    expect(podPhaseOf([done(0), done(0)], 'Never')).toBe('Succeeded');
    expect(podPhaseOf([done(0), done(2)], 'Never')).toBe('Failed');
    expect(podPhaseOf([done(0)], 'OnFailure')).toBe('Succeeded');
    expect(podPhaseOf([backingOff], 'OnFailure')).toBe('Running');
    expect(podPhaseOf([backingOff], 'Always')).toBe('Running');
    expect(podPhaseOf([done(0)], 'Always')).toBe('Running');
  });
  it('names terminations as Kubernetes does', () => {
    expect([terminationReason(0, false), terminationReason(1, false), terminationReason(137, true)]).toEqual(['Completed', 'Error', 'OOMKilled']);
  });
});

describe('image references and the simulated command language', () => {
  it('normalizes references as containerd names them', () => {
    expect(normalizeImageRef('busybox')).toBe('docker.io/library/busybox:latest');
    expect(normalizeImageRef('me/app:1')).toBe('docker.io/me/app:1');
    expect(normalizeImageRef('flotilla.local/busybox')).toBe('flotilla.local/busybox:latest');
    expect(normalizeImageRef('localhost:5000/x@sha256:ab')).toBe('localhost:5000/x@sha256:ab');
    expect(imageArchiveFileName('flotilla.local/busybox:latest')).toBe('flotilla.local_busybox_latest.tar');
  });
  it('parses sleep, exit, echo and trap', () => {
    expect(parseSimCommand(['sh', '-c', 'echo hi; sleep 2; exit 4'])).toEqual({ runMs: 2000, exitCode: 4, echoes: ['hi'], ignoresTerm: false });
    expect(parseSimCommand(['sh', '-c', 'trap "" TERM; while true; do sleep 1; done']).runMs).toBeUndefined();
    expect(parseSimCommand(['sh', '-c', 'trap "" TERM; while true; do sleep 1; done']).ignoresTerm).toBe(true);
  });
});
