import { once } from 'node:events';
import { createServer, Socket, type AddressInfo } from 'node:net';
import { describe, expect, test } from 'vitest';
import type { WebSocket } from 'ws';
import { WriteCoalescer } from './coalesce.js';

/** Something shaped like a ws WebSocket, as far as the coalescer looks: its `_socket`. */
function wsWith(socket: unknown): WebSocket {
  return { _socket: socket } as unknown as WebSocket;
}

const tick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));

describe('WriteCoalescer', () => {
  test('corks the socket once per tick and uncorks it when the tick ends', async () => {
    const calls: string[] = [];
    const socket = { cork: () => calls.push('cork'), uncork: () => calls.push('uncork') };
    const c = new WriteCoalescer(wsWith(socket));
    c.hold();
    c.hold();
    c.hold();
    expect(calls).toEqual(['cork']);
    await tick();
    expect(calls).toEqual(['cork', 'uncork']);
    c.hold();
    await tick();
    expect(calls).toEqual(['cork', 'uncork', 'cork', 'uncork']);
  });

  test('does nothing without a socket that can be corked (not connected yet, or another transport)', async () => {
    for (const socket of [null, undefined, {}, { cork: () => {} }, 'socket']) {
      const c = new WriteCoalescer(wsWith(socket));
      expect(() => c.hold()).not.toThrow();
      await tick();
    }
  });

  test('on a real socket, what is written in one tick is held, then all of it arrives in order', async () => {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const accepted = once(server, 'connection');
    const client = new Socket();
    client.connect((server.address() as AddressInfo).port, '127.0.0.1');
    await once(client, 'connect');
    const [peer] = (await accepted) as [Socket];
    let received = '';
    peer.on('data', (d: Buffer) => (received += d.toString()));
    try {
      const c = new WriteCoalescer(wsWith(client));
      c.hold();
      for (let i = 0; i < 5; i++) client.write(`frame${i};`);
      expect(client.writableCorked).toBe(1);
      expect(client.writableLength).toBeGreaterThan(0); // held in the socket, not written yet
      await tick();
      expect(client.writableCorked).toBe(0);
      const deadline = Date.now() + 5_000;
      while (received.length < 35 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(received).toBe('frame0;frame1;frame2;frame3;frame4;');
    } finally {
      client.destroy();
      peer.destroy();
      server.close();
    }
  });
});
