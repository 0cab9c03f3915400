// Takes a CPU profile of a running node process through its inspector (after kill -USR1 PID).
import WebSocket from 'ws';
import { writeFileSync } from 'node:fs';
const [port, seconds, out] = [process.argv[2] ?? '9229', Number(process.argv[3] ?? 10), process.argv[4] ?? '/tmp/live.cpuprofile'];
const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
const ws = new WebSocket(list[0].webSocketDebuggerUrl);
let id = 0; const pending = new Map();
const call = (method, params = {}) => new Promise((res) => { const i = ++id; pending.set(i, res); ws.send(JSON.stringify({ id: i, method, params })); });
ws.on('message', (d) => { const m = JSON.parse(d); if (m.id && pending.has(m.id)) { pending.get(m.id)(m.result); pending.delete(m.id); } });
await new Promise((r) => ws.once('open', r));
await call('Profiler.enable'); await call('Profiler.setSamplingInterval', { interval: 1000 }); await call('Profiler.start');
await new Promise((r) => setTimeout(r, seconds * 1000));
const { profile } = await call('Profiler.stop');
writeFileSync(out, JSON.stringify(profile)); console.log('wrote', out); ws.close();
