// `flotilla up`: the local three-master lab. The masters need the replicated store's driver
// (WebSocket peers, LMDB) and the etcd-compatible face, which are not built yet; until then this
// says so plainly instead of pretending.

export function upCommand(out: NodeJS.WritableStream): number {
  out.write(
    'flotilla up: the three-master lab is not built yet (it arrives with the replicated store).\n' +
      'What runs today: the Raft core under the deterministic simulator —\n' +
      '  npx flotilla sim --seeds 1..500\n' +
      '  npx flotilla sim --seeds 17..17 --trace\n',
  );
  return 0;
}
