// Container logs through the API, as kube-apiserver serves them from the kubelet: the pod names its
// node, the Node names its agent's endpoint (an annotation the agent sets), and the master streams
// the agent's `GET /logs/NAMESPACE/POD/CONTAINER` back to the caller, presenting the caller's own
// bearer token (the agent checks it against the API, as a kubelet does with a TokenReview).

import { request } from 'node:http';

/** The Node annotation in which an agent publishes its HOST:PORT. */
export const AGENT_ENDPOINT_ANNOTATION = 'flotilla.io/agent-endpoint';
/** The kubelet's port, used when a Node has no endpoint annotation. */
export const DEFAULT_AGENT_PORT = 10250;
/** Bound on an error answer read from the agent. */
export const MAX_AGENT_ERROR_BYTES = 4096;

export class AgentLogsError extends Error {
  override readonly name = 'AgentLogsError';
  constructor(
    message: string,
    /** The agent's HTTP status, when it answered. */
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface AgentLogsRequest {
  /** HOST:PORT of the agent. */
  readonly endpoint: string;
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly follow?: boolean;
  readonly previous?: boolean;
  readonly token?: string;
  readonly signal?: AbortSignal;
}

/** The container a logs request means: the one named, or the pod's only one; else what is wrong. */
export function logsContainer(pod: { metadata: { namespace?: string; name?: string }; spec?: { containers?: readonly { name: string }[] } }, requested: string | undefined): { container: string } | { problem: string } {
  const names = (pod.spec?.containers ?? []).map((c) => c.name);
  const ref = `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
  const chosen = requested !== undefined && requested !== '' ? requested : names.length === 1 ? names[0] : undefined;
  if (chosen === undefined) return { problem: `pod ${ref} has containers [${names.join(' ')}]: choose one with -c` };
  if (!names.includes(chosen)) return { problem: `pod ${ref} has no container ${chosen} (it has [${names.join(' ')}])` };
  return { container: chosen };
}

/** The agent endpoint of a node: its annotation, else its InternalIP on the kubelet's port. */
export function agentEndpointOf(node: { metadata: { annotations?: Readonly<Record<string, string>> }; status?: { addresses?: readonly { type: string; address: string }[] } }): string | undefined {
  const annotated = node.metadata.annotations?.[AGENT_ENDPOINT_ANNOTATION];
  if (annotated !== undefined && annotated !== '') return annotated;
  const ip = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  return ip === undefined ? undefined : `${ip}:${DEFAULT_AGENT_PORT}`;
}

/**
 * Streams the container's output to onChunk (the agent's response is paused while a returned
 * promise is pending, so a slow reader slows the agent, not the master's memory); resolves when the
 * agent ends the stream or the signal aborts.
 */
export function streamAgentLogs(req: AgentLogsRequest, onChunk: (chunk: Uint8Array) => void | Promise<void>): Promise<void> {
  const colon = req.endpoint.lastIndexOf(':');
  const host = req.endpoint.slice(0, colon);
  const port = Number(req.endpoint.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 1 || port > 65_535) return Promise.reject(new AgentLogsError(`agent endpoint '${req.endpoint}' is not HOST:PORT`));
  const query = new URLSearchParams();
  if (req.follow === true) query.set('follow', '1');
  if (req.previous === true) query.set('previous', '1');
  const path = `/logs/${encodeURIComponent(req.namespace)}/${encodeURIComponent(req.pod)}/${encodeURIComponent(req.container)}${query.size > 0 ? `?${query.toString()}` : ''}`;
  return new Promise<void>((resolve, reject) => {
    const r = request({ host, port, path, method: 'GET', headers: req.token !== undefined ? { authorization: `Bearer ${req.token}` } : {}, ...(req.signal !== undefined ? { signal: req.signal } : {}) }, (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (s: string) => {
          if (body.length < MAX_AGENT_ERROR_BYTES) body += s;
        });
        res.on('end', () => reject(new AgentLogsError(`agent at ${req.endpoint} answered ${res.statusCode ?? '?'}: ${body.trim()}`, res.statusCode)));
        return;
      }
      res.on('data', (chunk: Buffer) => {
        const pending = onChunk(chunk);
        if (pending instanceof Promise) {
          res.pause();
          pending.then(() => res.resume(), (err: unknown) => res.destroy(err instanceof Error ? err : new Error(String(err))));
        }
      });
      res.on('end', () => resolve());
      res.on('error', (err) => (req.signal?.aborted === true ? resolve() : reject(err)));
    });
    r.on('error', (err) => (req.signal?.aborted === true ? resolve() : reject(new AgentLogsError(`agent at ${req.endpoint}: ${err.message}`))));
    r.end();
  });
}
