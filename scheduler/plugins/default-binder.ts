// DefaultBinder: binds a batch of decisions with one bulkBind call (split by the API client into
// MAX_BULK_ITEMS pieces). Each failure becomes an Error status carrying the API's reason, so the
// scheduler forgets the assumed pod and retries it with backoff.

import type { BindPlugin, BindRequest, PluginContext, PodBinder } from '../framework/interfaces.js';
import { SUCCESS, errorStatus, type Status } from '../framework/status.js';

export const DEFAULT_BINDER = 'DefaultBinder';

export class DefaultBinder implements BindPlugin {
  readonly name = DEFAULT_BINDER;

  constructor(private readonly binder: PodBinder) {}

  static create(context: PluginContext): DefaultBinder {
    if (context.binder === undefined) throw new Error('DefaultBinder needs the API (PluginContext.binder)');
    return new DefaultBinder(context.binder);
  }

  async bind(requests: readonly BindRequest[]): Promise<readonly Status[]> {
    const outcomes = await this.binder.bulkBind(
      requests.map((r) => ({
        namespace: r.pod.metadata.namespace ?? '',
        name: r.pod.metadata.name ?? '',
        ...(r.pod.metadata.uid !== undefined ? { uid: r.pod.metadata.uid } : {}),
        nodeName: r.nodeName,
      })),
    );
    return requests.map((_, i) => {
      const o = outcomes[i];
      if (o === undefined) return errorStatus('bulkBind answered fewer results than bindings');
      return o.ok ? SUCCESS : errorStatus(`${o.reason}: ${o.message}`);
    });
  }
}
