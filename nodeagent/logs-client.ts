// `flotilla logs` through the API, as kubectl does through the kubelet: the pod names its node,
// the Node names its agent's endpoint (annotation), and the agent streams the container's output.

import { request } from 'node:http';
import type { Node, Pod } from '../proto/api/types.js';
import type { AgentApi } from './api.js';
import { AGENT_ENDPOINT_ANNOTATION } from './node-status.js';

/** The kubelet's port, used when a Node has no endpoint annotation. */
export const DEFAULT_AGENT_PORT = 10250;
/** Bound on an error answer read from the agent. */
export const MAX_ERROR_BODY_BYTES = 4096;

export class PodLogsError extends Error {
  override readonly name = 'PodLogsError';
}

export interface PodLogsRequest {
  readonly namespace: string;
  readonly pod: string;
  /** Needed when the pod has more than one container. */
  readonly container?: string;
  readonly follow?: boolean;
  readonly previous?: boolean;
  readonly token?: string;
  readonly signal?: AbortSignal;
}

export async function agentEndpointOfPod(api: Pick<AgentApi, 'get'>, req: PodLogsRequest): Promise<{ endpoint: string; container: string }> {
  const pod = await api.get<Pod>('Pod', req.pod, req.namespace);
  const nodeName = pod.spec?.nodeName;
  if (nodeName === undefined || nodeName === '') throw new PodLogsError(`pod ${req.namespace}/${req.pod} is not bound to a node yet`);
  const names = (pod.spec?.containers ?? []).map((c) => c.name);
  const container = req.container ?? (names.length === 1 ? names[0] : undefined);
  if (container === undefined) throw new PodLogsError(`pod ${req.namespace}/${req.pod} has containers [${names.join(' ')}]: choose one with -c`);
  if (!names.includes(container)) throw new PodLogsError(`pod ${req.namespace}/${req.pod} has no container ${container} (it has [${names.join(' ')}])`);
  const node = await api.get<Node>('Node', nodeName);
  const annotated = node.metadata.annotations?.[AGENT_ENDPOINT_ANNOTATION];
  const ip = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  const endpoint = annotated ?? (ip !== undefined ? `${ip}:${DEFAULT_AGENT_PORT}` : undefined);
  if (endpoint === undefined) throw new PodLogsError(`node ${nodeName} publishes no agent endpoint`);
  return { endpoint, container };
}

/** Streams the container's output to onChunk; resolves when the agent ends the stream. */
export async function fetchPodLogs(api: Pick<AgentApi, 'get'>, req: PodLogsRequest, onChunk: (chunk: Uint8Array) => void): Promise<void> {
  const { endpoint, container } = await agentEndpointOfPod(api, req);
  const colon = endpoint.lastIndexOf(':');
  const host = endpoint.slice(0, colon);
  const port = Number(endpoint.slice(colon + 1));
  const query = new URLSearchParams();
  if (req.follow === true) query.set('follow', '1');
  if (req.previous === true) query.set('previous', '1');
  const path = `/logs/${encodeURIComponent(req.namespace)}/${encodeURIComponent(req.pod)}/${encodeURIComponent(container)}${query.size > 0 ? `?${query.toString()}` : ''}`;
  await new Promise<void>((resolve, reject) => {
    const r = request({ host, port, path, method: 'GET', headers: req.token !== undefined ? { authorization: `Bearer ${req.token}` } : {}, ...(req.signal !== undefined ? { signal: req.signal } : {}) }, (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (s: string) => {
          if (body.length < MAX_ERROR_BODY_BYTES) body += s;
        });
        res.on('end', () => reject(new PodLogsError(`agent at ${endpoint} answered ${res.statusCode ?? '?'}: ${body.trim()}`)));
        return;
      }
      res.on('data', (chunk: Buffer) => onChunk(chunk));
      res.on('end', () => resolve());
      res.on('error', reject);
    });
    r.on('error', (err) => (req.signal?.aborted === true ? resolve() : reject(new PodLogsError(`agent at ${endpoint}: ${err.message}`))));
    r.end();
  });
}
