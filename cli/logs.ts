// `flotilla logs POD [-c CONTAINER] [-f]`: a container's output, streamed from the agent of the
// pod's node (found through the API), as kubectl does through the kubelet.

import { parseArgs } from 'node:util';
import { fetchPodLogs } from '../nodeagent/logs-client.js';
import { CONNECT_OPTIONS, clusterEndpoints, connect } from './connect.js';

export const LOGS_USAGE = 'usage: flotilla logs POD [-n NAMESPACE] [-c CONTAINER] [-f] [-p] [--server HOST:PORT,...] [--token T]\n';

export async function logsCommand(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      ...CONNECT_OPTIONS,
      namespace: { type: 'string', short: 'n', default: 'default' },
      container: { type: 'string', short: 'c' },
      follow: { type: 'boolean', short: 'f', default: false },
      previous: { type: 'boolean', short: 'p', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const [pod, ...extra] = positionals;
  if (pod === undefined || extra.length > 0) {
    out.write(LOGS_USAGE);
    return 2;
  }
  const { token } = clusterEndpoints(values);
  const api = connect(values);
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  try {
    await fetchPodLogs(
      api,
      {
        namespace: values.namespace ?? 'default',
        pod,
        ...(values.container !== undefined ? { container: values.container } : {}),
        follow: values.follow === true,
        previous: values.previous === true,
        ...(token !== undefined ? { token } : {}),
        signal: abort.signal,
      },
      (chunk) => out.write(chunk),
    );
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    await api.close();
  }
}
