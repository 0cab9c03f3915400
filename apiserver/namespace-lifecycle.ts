// Deleting a namespace deletes what is in it, as Kubernetes' namespace controller does: the
// namespace turns Terminating (deletionTimestamp, status.phase), creates in it are refused, every
// object in it is deleted (pods gracefully: their agents stop them), and the namespace itself goes
// once nothing is left. Each master sweeps the Terminating namespaces now and then; every step is
// a compare-and-swap or a delete of what exists, so masters sweeping at once do no harm.
//
// A create that passed its namespace check just before the namespace turned Terminating may still
// commit after the sweep emptied it; the sweep after the namespace's removal deletes such
// stragglers, and later creates fail (the namespace key is gone).

import type { Clock } from '../raft/driver/raft-node.js';
import type { Logger } from '../store/logger.js';
import { ApiError, StatusReason } from './registry/errors.js';
import type { Registry } from './registry/registry.js';

/** How often each master sweeps the namespaces being terminated. */
export const NAMESPACE_SWEEP_MS = 5_000;

/** Objects deleted per kind per sweep step (a page; the next sweep continues). */
export const NAMESPACE_DELETE_PAGE = 1_000;

export class NamespaceLifecycle {
  private timer: unknown;
  private sweeping = false;

  constructor(
    private readonly registry: Registry,
    /** Every served kind (the namespaced ones are emptied). */
    private readonly kinds: readonly string[],
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly intervalMs = NAMESPACE_SWEEP_MS,
  ) {}

  start(): void {
    this.timer = this.clock.setInterval(() => void this.sweep(), this.intervalMs);
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearInterval(this.timer);
  }

  /** Finalizes every Terminating namespace. */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const namespaces = await this.registry.list('Namespace');
      for (const ns of namespaces.items) {
        if (ns.metadata.deletionTimestamp !== undefined && ns.metadata.name !== undefined) await this.finalize(ns.metadata.name);
      }
    } catch (err) {
      this.logger.warn('namespace sweep failed; the next one retries', { error: (err as Error).message });
    } finally {
      this.sweeping = false;
    }
  }

  /** Deletes the namespace's contents, then the namespace when it is empty. Resolves whether it is gone. */
  async finalize(namespace: string): Promise<boolean> {
    await this.deleteContents(namespace);
    if (await this.registry.namespaceHasObjects(namespace, this.kinds)) return false;
    const gone = await this.registry.removeTerminatedNamespace(namespace);
    // Stragglers: creates that were admitted before the namespace turned Terminating.
    if (gone) await this.deleteContents(namespace);
    return gone;
  }

  private async deleteContents(namespace: string): Promise<void> {
    for (const kind of this.kinds) {
      const h = this.registry.handler(kind);
      if (!h.namespaced) continue;
      const page = await this.registry.list(kind, { namespace, limit: NAMESPACE_DELETE_PAGE });
      for (const obj of page.items) {
        // Already being deleted: finalizers or a pod's agent finish it.
        if (obj.metadata.deletionTimestamp !== undefined) continue;
        try {
          await this.registry.delete({ kind, namespace, name: obj.metadata.name ?? '' });
        } catch (err) {
          if (!(err instanceof ApiError && err.reason === StatusReason.NotFound)) throw err;
        }
      }
    }
  }
}
