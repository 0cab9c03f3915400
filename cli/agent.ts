// `flotilla agent`: runs one node agent until SIGINT/SIGTERM (containers keep running; the next
// agent on this node adopts them).

import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiClient } from '../client/api-client.js';
import { NodeAgent } from '../nodeagent/agent.js';
import { cachedTokenReview } from '../nodeagent/log-server.js';
import type { AgentApi } from '../nodeagent/api.js';
import { CtrRuntime } from '../nodeagent/runtime/ctr.js';
import type { ContainerRuntime } from '../nodeagent/runtime/runtime.js';
import { SimulatedRuntime } from '../nodeagent/runtime/simulated.js';
import { jsonLogger } from '../store/logger.js';

export const DEFAULT_CONTAINERD_ADDRESS = '/run/containerd/containerd.sock';
export const DEFAULT_CONTAINERD_NAMESPACE = 'flotilla';
export const DEFAULT_AGENT_LISTEN = '0.0.0.0:10250';
export const DEFAULT_AGENT_STATE_DIR = '/var/lib/flotilla/agent';

/** How long the API may take to confirm a token presented to the agent. */
export const TOKEN_REVIEW_TIMEOUT_MS = 5_000;

export const AGENT_USAGE = `usage: flotilla agent --name NODE --masters HOST:PORT,... [options]

  --name NODE               the Node to register (default: the host name)
  --masters LIST            the masters' API endpoints (or FLOTILLA_SERVER)
  --token TOKEN             API token (or FLOTILLA_TOKEN); also required by the log endpoint
  --containerd-address P    containerd's socket (or CONTAINERD_ADDRESS; default ${DEFAULT_CONTAINERD_ADDRESS})
  --containerd-namespace NS the containerd namespace the agent owns (default ${DEFAULT_CONTAINERD_NAMESPACE})
  --snapshotter NAME        containerd snapshotter (default: ctr's, overlayfs)
  --state-dir DIR           container logs (DIR/logs) and image archives (DIR/images) (default ${DEFAULT_AGENT_STATE_DIR})
  --image-dir DIR           where OCI archives are imported from (<ref with /:@ as _>.tar)
  --listen HOST:PORT        the log endpoint (default ${DEFAULT_AGENT_LISTEN})
  --advertise HOST:PORT     the log endpoint as written in the Node (default: node IP and the port)
  --node-ip IP              the InternalIP address (default: the first non-loopback IPv4)
  --labels K=V,...          extra Node labels
  --cpu N --memory Q --pods N   capacity (default: the machine's cores and memory, 110 pods)
  --simulated               run containers as timers (no containerd): for benchmarks
`;

function hostPort(flag: string, value: string): { host: string; port: number } {
  const colon = value.lastIndexOf(':');
  const port = Number(value.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`--${flag} '${value}' must be HOST:PORT`);
  return { host: value.slice(0, colon), port };
}

function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of (text ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--labels: '${pair}' is not KEY=VALUE`);
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return labels;
}

export async function agentCommand(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      name: { type: 'string' },
      masters: { type: 'string' },
      token: { type: 'string' },
      'containerd-address': { type: 'string' },
      'containerd-namespace': { type: 'string', default: DEFAULT_CONTAINERD_NAMESPACE },
      snapshotter: { type: 'string' },
      'state-dir': { type: 'string', default: DEFAULT_AGENT_STATE_DIR },
      'image-dir': { type: 'string' },
      listen: { type: 'string', default: DEFAULT_AGENT_LISTEN },
      advertise: { type: 'string' },
      'node-ip': { type: 'string' },
      labels: { type: 'string' },
      cpu: { type: 'string' },
      memory: { type: 'string' },
      pods: { type: 'string' },
      simulated: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help === true) {
    out.write(AGENT_USAGE);
    return 0;
  }
  const masters = (values.masters ?? process.env['FLOTILLA_SERVER'] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (masters.length === 0) {
    out.write(`flotilla agent: --masters HOST:PORT,... is required (or FLOTILLA_SERVER)\n${AGENT_USAGE}`);
    return 2;
  }
  for (const m of masters) hostPort('masters', m);
  const token = values.token ?? process.env['FLOTILLA_TOKEN'];
  const stateDir = values['state-dir'] ?? DEFAULT_AGENT_STATE_DIR;
  const logger = jsonLogger('agent');
  const client = new ApiClient({ endpoints: masters, ...(token !== undefined ? { token } : {}) });
  const api: AgentApi = client;
  let runtime: ContainerRuntime;
  if (values.simulated === true) {
    runtime = new SimulatedRuntime();
  } else {
    const address = values['containerd-address'] ?? process.env['CONTAINERD_ADDRESS'] ?? DEFAULT_CONTAINERD_ADDRESS;
    runtime = await CtrRuntime.open({
      address,
      namespace: values['containerd-namespace'] ?? DEFAULT_CONTAINERD_NAMESPACE,
      logDir: join(stateDir, 'logs'),
      imageDir: values['image-dir'] ?? join(stateDir, 'images'),
      ...(values.snapshotter !== undefined ? { snapshotter: values.snapshotter } : {}),
    });
  }
  const { hostname } = await import('node:os');
  const nodeName = values.name ?? hostname();
  const listen = hostPort('listen', values.listen ?? DEFAULT_AGENT_LISTEN);
  const agent = await NodeAgent.start({
    nodeName,
    api,
    runtime,
    logger,
    listen,
    labels: parseLabels(values.labels),
    resources: {
      ...(values.cpu !== undefined ? { cpu: values.cpu } : {}),
      ...(values.memory !== undefined ? { memory: values.memory } : {}),
      ...(values.pods !== undefined ? { pods: values.pods } : {}),
    },
    diskPath: stateDir,
    ...(values['node-ip'] !== undefined ? { internalIP: values['node-ip'] } : {}),
    ...(values.advertise !== undefined ? { advertiseEndpoint: values.advertise } : {}),
    ...(token !== undefined ? { httpToken: token } : {}),
    // A token that is not ours is good when the API accepts it (WhoAmI with it), remembered a while.
    verifyToken: cachedTokenReview(async (t) => {
      const reviewer = new ApiClient({ endpoints: masters, token: t, timeoutMs: TOKEN_REVIEW_TIMEOUT_MS });
      try {
        await reviewer.whoAmI();
        return true;
      } catch {
        return false;
      } finally {
        await reviewer.close();
      }
    }),
  });
  out.write(`agent ${nodeName}: ${await runtime.version()}, logs on ${agent.endpoint ?? '-'}, masters ${masters.join(',')}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await agent.stop();
  await runtime.close();
  await client.close();
  return 0;
}
