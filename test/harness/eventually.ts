// Retrying a check in multi-process tests, where the cluster converges in its own time (a leader,
// a restarted master's caches, a standby scheduler).

/** Retries fn every 100 ms until it resolves; past timeoutMs its last error is thrown. */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
