// Why a pod fits nowhere, in Kubernetes' words: "0/5000 nodes are available: 4990 Insufficient
// cpu, 10 node(s) had untolerated taint {dedicated: gpu}." Each rejected node adds one to each of
// its reasons (a node short of cpu and memory counts under both). Reasons are listed by count,
// most common first, then alphabetically.

export const NO_NODES_AVAILABLE = 'no nodes available to schedule pods';

export class Diagnosis {
  /** reason → number of nodes that gave it. */
  readonly reasons = new Map<string, number>();
  /** Plugins that rejected at least one node (what the queue waits on). */
  readonly rejectedBy = new Set<string>();
  preFilterMessage: string | undefined;

  addRejection(plugin: string | undefined, reasons: readonly string[]): void {
    if (plugin !== undefined) this.rejectedBy.add(plugin);
    for (const r of reasons) this.reasons.set(r, (this.reasons.get(r) ?? 0) + 1);
  }
}

export function fitErrorMessage(numAllNodes: number, diagnosis: Diagnosis): string {
  if (numAllNodes === 0) return `0/0 nodes are available: ${NO_NODES_AVAILABLE}.`;
  const head = `0/${numAllNodes} nodes are available:`;
  if (diagnosis.preFilterMessage !== undefined) return `${head} ${diagnosis.preFilterMessage}.`;
  const parts = [...diagnosis.reasons]
    .sort((a, b) => (b[1] !== a[1] ? b[1] - a[1] : a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([reason, count]) => `${count} ${reason}`);
  return parts.length === 0 ? `${head}.` : `${head} ${parts.join(', ')}.`;
}
