// Reading a container's output straight from the agent of the pod's node (found through the API).
// `flotilla logs` goes through the API instead (apiserver/logs-proxy.ts); this direct path serves
// the agent's own tests and tools on the node.

import type { Node, Pod } from '../proto/api/types.js';
import { AgentLogsError, agentEndpointOf, logsContainer, streamAgentLogs } from '../apiserver/logs-proxy.js';
import type { AgentApi } from './api.js';

export { AgentLogsError as PodLogsError, DEFAULT_AGENT_PORT } from '../apiserver/logs-proxy.js';

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
  if (nodeName === undefined || nodeName === '') throw new AgentLogsError(`pod ${req.namespace}/${req.pod} is not bound to a node yet`);
  const chosen = logsContainer(pod, req.container);
  if ('problem' in chosen) throw new AgentLogsError(chosen.problem);
  const { container } = chosen;
  const endpoint = agentEndpointOf(await api.get<Node>('Node', nodeName));
  if (endpoint === undefined) throw new AgentLogsError(`node ${nodeName} publishes no agent endpoint`);
  return { endpoint, container };
}

/** Streams the container's output to onChunk; resolves when the agent ends the stream. */
export async function fetchPodLogs(api: Pick<AgentApi, 'get'>, req: PodLogsRequest, onChunk: (chunk: Uint8Array) => void): Promise<void> {
  const { endpoint, container } = await agentEndpointOfPod(api, req);
  await streamAgentLogs(
    {
      endpoint,
      namespace: req.namespace,
      pod: req.pod,
      container,
      ...(req.follow !== undefined ? { follow: req.follow } : {}),
      ...(req.previous !== undefined ? { previous: req.previous } : {}),
      ...(req.token !== undefined ? { token: req.token } : {}),
      ...(req.signal !== undefined ? { signal: req.signal } : {}),
    },
    onChunk,
  );
}
