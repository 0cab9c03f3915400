// `flotilla logs POD [-c CONTAINER] [-f]`: a container's output, streamed through the API from the
// agent of the pod's node, as kubectl does through kube-apiserver and the kubelet.

import { parseArgs } from 'node:util';
import { RpcError } from '../apiserver/rpc/status.js';
import { CONNECT_OPTIONS, connect } from './connect.js';

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
  const api = connect(values);
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  try {
    for await (const chunk of api.logs(values.namespace ?? 'default', pod, {
      ...(values.container !== undefined ? { container: values.container } : {}),
      follow: values.follow === true,
      previous: values.previous === true,
      signal: abort.signal,
    })) {
      out.write(chunk);
    }
    return 0;
  } catch (err) {
    if (abort.signal.aborted) return 0;
    out.write(`error: ${err instanceof RpcError ? `${err.message} (${err.codeName})` : (err as Error).message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    await api.close();
  }
}
