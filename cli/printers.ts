// How `flotilla get` shows objects: the columns kubectl users know, per kind, as aligned tables.

import type { ApiObject } from '../proto/api/object.js';

type Json = Record<string, unknown>;

export interface Table {
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/** "5m", "3h", "2d": kubectl's short ages. */
export function age(timestamp: string | undefined, nowMs: number): string {
  if (timestamp === undefined) return '<unknown>';
  const s = Math.max(0, Math.floor((nowMs - Date.parse(timestamp)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

function get(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Json)[part];
  }
  return cur;
}

function str(v: unknown, fallback = '<none>'): string {
  return v === undefined || v === null || v === '' ? fallback : String(v);
}

function arr(v: unknown): Json[] {
  return Array.isArray(v) ? (v as Json[]) : [];
}

function podStatus(pod: ApiObject): string {
  if (pod.metadata.deletionTimestamp !== undefined) return 'Terminating';
  for (const cs of arr(get(pod, 'status.containerStatuses'))) {
    const waiting = get(cs, 'state.waiting.reason');
    if (typeof waiting === 'string' && waiting !== '') return waiting;
    const terminated = get(cs, 'state.terminated.reason');
    if (typeof terminated === 'string' && terminated !== '' && get(pod, 'status.phase') !== 'Running') return terminated;
  }
  return str(get(pod, 'status.reason'), str(get(pod, 'status.phase'), 'Pending'));
}

function ports(svc: ApiObject): string {
  const list = arr(get(svc, 'spec.ports')).map((p) => `${str(p.port, '')}${p.nodePort !== undefined ? `:${String(p.nodePort)}` : ''}/${str(p.protocol, 'TCP')}`);
  return list.length === 0 ? '<none>' : list.join(',');
}

type Columns = { header: string[]; wide?: string[]; row(o: ApiObject, now: number): string[]; wideRow?(o: ApiObject, now: number): string[] };

const COLUMNS: Record<string, Columns> = {
  Pod: {
    header: ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'],
    wide: ['IP', 'NODE'],
    row: (o, now) => {
      const statuses = arr(get(o, 'status.containerStatuses'));
      const total = arr(get(o, 'spec.containers')).length;
      const ready = statuses.filter((s) => s.ready === true).length;
      const restarts = statuses.reduce((n, s) => n + (typeof s.restartCount === 'number' ? s.restartCount : 0), 0);
      return [o.metadata.name ?? '', `${ready}/${total}`, podStatus(o), String(restarts), age(o.metadata.creationTimestamp, now)];
    },
    wideRow: (o) => [str(get(o, 'status.podIP')), str(get(o, 'spec.nodeName'))],
  },
  Node: {
    header: ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION'],
    wide: ['INTERNAL-IP', 'CPU', 'MEMORY'],
    row: (o, now) => {
      const ready = arr(get(o, 'status.conditions')).find((c) => c.type === 'Ready');
      let status = ready?.status === 'True' ? 'Ready' : ready === undefined ? 'Unknown' : 'NotReady';
      if (get(o, 'spec.unschedulable') === true) status += ',SchedulingDisabled';
      const roles = Object.keys(o.metadata.labels ?? {}).filter((l) => l.startsWith('node-role.kubernetes.io/')).map((l) => l.slice('node-role.kubernetes.io/'.length));
      return [o.metadata.name ?? '', status, roles.length === 0 ? '<none>' : roles.join(','), age(o.metadata.creationTimestamp, now), str(get(o, 'status.nodeInfo.kubeletVersion'), '')];
    },
    wideRow: (o) => [
      str(arr(get(o, 'status.addresses')).find((a) => a.type === 'InternalIP')?.address),
      str(get(o, 'status.allocatable.cpu')),
      str(get(o, 'status.allocatable.memory')),
    ],
  },
  Namespace: { header: ['NAME', 'STATUS', 'AGE'], row: (o, now) => [o.metadata.name ?? '', str(get(o, 'status.phase'), 'Active'), age(o.metadata.creationTimestamp, now)] },
  Deployment: {
    header: ['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE'],
    row: (o, now) => [
      o.metadata.name ?? '',
      `${Number(get(o, 'status.readyReplicas') ?? 0)}/${Number(get(o, 'spec.replicas') ?? 0)}`,
      String(Number(get(o, 'status.updatedReplicas') ?? 0)),
      String(Number(get(o, 'status.availableReplicas') ?? 0)),
      age(o.metadata.creationTimestamp, now),
    ],
  },
  ReplicaSet: {
    header: ['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE'],
    row: (o, now) => [
      o.metadata.name ?? '',
      String(Number(get(o, 'spec.replicas') ?? 0)),
      String(Number(get(o, 'status.replicas') ?? 0)),
      String(Number(get(o, 'status.readyReplicas') ?? 0)),
      age(o.metadata.creationTimestamp, now),
    ],
  },
  Service: {
    header: ['NAME', 'TYPE', 'CLUSTER-IP', 'PORT(S)', 'AGE'],
    row: (o, now) => [o.metadata.name ?? '', str(get(o, 'spec.type'), 'ClusterIP'), str(get(o, 'spec.clusterIP')), ports(o), age(o.metadata.creationTimestamp, now)],
  },
  Endpoints: {
    header: ['NAME', 'ENDPOINTS', 'AGE'],
    row: (o, now) => {
      const eps = arr(get(o, 'subsets')).flatMap((s) => arr(s.addresses).flatMap((a) => (arr(s.ports).length === 0 ? [str(a.ip)] : arr(s.ports).map((p) => `${str(a.ip)}:${str(p.port)}`))));
      return [o.metadata.name ?? '', eps.length === 0 ? '<none>' : eps.slice(0, 3).join(',') + (eps.length > 3 ? ` + ${eps.length - 3} more...` : ''), age(o.metadata.creationTimestamp, now)];
    },
  },
  ConfigMap: {
    header: ['NAME', 'DATA', 'AGE'],
    row: (o, now) => [o.metadata.name ?? '', String(Object.keys((get(o, 'data') as Json | undefined) ?? {}).length + Object.keys((get(o, 'binaryData') as Json | undefined) ?? {}).length), age(o.metadata.creationTimestamp, now)],
  },
  Secret: {
    header: ['NAME', 'TYPE', 'DATA', 'AGE'],
    row: (o, now) => [o.metadata.name ?? '', str(get(o, 'type'), 'Opaque'), String(Object.keys((get(o, 'data') as Json | undefined) ?? {}).length), age(o.metadata.creationTimestamp, now)],
  },
  Lease: { header: ['NAME', 'HOLDER', 'AGE'], row: (o, now) => [o.metadata.name ?? '', str(get(o, 'spec.holderIdentity'), ''), age(o.metadata.creationTimestamp, now)] },
  Event: {
    header: ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'],
    row: (o, now) => [
      age(str(get(o, 'lastTimestamp'), o.metadata.creationTimestamp ?? ''), now),
      str(get(o, 'type'), ''),
      str(get(o, 'reason'), ''),
      `${String(get(o, 'involvedObject.kind') ?? '').toLowerCase()}/${str(get(o, 'involvedObject.name'), '')}`,
      str(get(o, 'message'), ''),
    ],
  },
};

const GENERIC: Columns = { header: ['NAME', 'AGE'], row: (o, now) => [o.metadata.name ?? '', age(o.metadata.creationTimestamp, now)] };

export function table(kind: string, objects: readonly ApiObject[], opts: { wide?: boolean; withNamespace?: boolean; now: number }): Table {
  const cols = COLUMNS[kind] ?? GENERIC;
  const wide = opts.wide === true && cols.wide !== undefined && cols.wideRow !== undefined;
  const header = [...(opts.withNamespace === true ? ['NAMESPACE'] : []), ...cols.header, ...(wide ? cols.wide! : [])];
  const rows = objects.map((o) => [...(opts.withNamespace === true ? [o.metadata.namespace ?? ''] : []), ...cols.row(o, opts.now), ...(wide ? cols.wideRow!(o, opts.now) : [])]);
  return { header, rows };
}

/** Columns padded to their widest cell, separated by three spaces (as kubectl prints). */
export function formatTable(t: Table, withHeader = true): string {
  const all = withHeader ? [t.header, ...t.rows] : [...t.rows];
  const widths = t.header.map((_, c) => Math.max(t.header[c]!.length, ...t.rows.map((r) => (r[c] ?? '').length)));
  return all.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('   ').trimEnd()).join('\n') + (all.length > 0 ? '\n' : '');
}
