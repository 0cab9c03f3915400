// The read-only view one scheduling cycle works on: a copy of the cache's NodeInfos, refreshed
// before each cycle by SchedulerCache.updateSnapshot, which copies only what changed since the
// snapshot's generation. Plugins see it through SnapshotView.
//
// Invariant: after updateSnapshot, every NodeInfo here equals the cache's with generation <=
// this.generation, and `list` holds exactly the existing nodes, in the cache's order.

import type { SnapshotView } from './framework/interfaces.js';
import type { NodeInfo } from './framework/node-info.js';

export class Snapshot implements SnapshotView {
  readonly nodeInfoMap = new Map<string, NodeInfo>();
  /** The newest cache generation this snapshot reflects. */
  generation = 0;
  /** The cache's nodeSetVersion when `list` was last rebuilt (-1: never). */
  nodeSetVersion = -1;
  private list: NodeInfo[] = [];
  private antiAffinityList: NodeInfo[] = [];

  get numNodes(): number {
    return this.list.length;
  }

  nodeInfos(): readonly NodeInfo[] {
    return this.list;
  }

  get(nodeName: string): NodeInfo | undefined {
    return this.nodeInfoMap.get(nodeName);
  }

  nodesWithRequiredAntiAffinityPods(): readonly NodeInfo[] {
    return this.antiAffinityList;
  }

  rebuild(names: readonly string[]): void {
    this.list = [];
    for (const name of names) {
      const info = this.nodeInfoMap.get(name);
      if (info !== undefined) this.list.push(info);
    }
    this.rebuildAntiAffinityList();
  }

  rebuildAntiAffinityList(): void {
    this.antiAffinityList = this.list.filter((n) => n.podsWithRequiredAntiAffinity > 0);
  }
}
