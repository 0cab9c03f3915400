// The RPC layer's public surface: server.ts and client.ts over one WebSocket per client, frames in
// proto/rpc.proto, statuses in status.ts, bounds in limits.ts, typed methods in typed.ts.

export * from './client.js';
export * from './limits.js';
export { silentRpcLogger, type RpcLogger } from './log.js';
export * from './server.js';
export * from './status.js';
export * from './typed.js';
