import { describe, expect, it } from 'vitest';
import { memberIdFromAddress, parseHostPort, parsePeers } from './members.js';

describe('member configuration', () => {
  it('parses peers into stable ids', () => {
    const peers = parsePeers('m1=127.0.0.1:7001, m2=127.0.0.1:7002,m3=localhost:7003');
    expect(peers.map((p) => p.name)).toEqual(['m1', 'm2', 'm3']);
    expect(peers[0]!.id).toBe(memberIdFromAddress('127.0.0.1:7001'));
    expect(new Set(peers.map((p) => p.id)).size).toBe(3);
    expect(memberIdFromAddress('Host:1')).toBe(memberIdFromAddress('host:1'));
  });

  it('names what is wrong', () => {
    expect(() => parsePeers('m1=127.0.0.1')).toThrow(/HOST:PORT/);
    expect(() => parsePeers('M1=127.0.0.1:1')).toThrow(/lowercase/);
    expect(() => parsePeers('m1=a:1,m1=b:2')).toThrow(/twice/);
    expect(() => parsePeers('m1=a:1,m2=a:1')).toThrow(/same address/);
    expect(() => parsePeers('')).toThrow(/no member/);
    expect(() => parseHostPort('h:70000', '--listen')).toThrow(/--listen/);
    expect(parseHostPort('[::1]:80', 'x')).toEqual({ host: '::1', port: 80 });
  });
});
