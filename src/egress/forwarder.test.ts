import { once } from 'node:events';
import { connect, createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startForwarder, type ForwarderEvent } from './forwarder.js';

describe('preview forwarder', () => {
  it('pipes each connection to the same port of its target and logs open/close with the count still open', async () => {
    const target = createServer((c) => c.end('hello from the sandbox\n')).listen(0, '127.0.0.1');
    await once(target, 'listening');
    const port = (target.address() as AddressInfo).port;
    // the forwarder listens where the target does in a sandbox: here both on loopback, another address
    const events: ForwarderEvent[] = [];
    const servers = startForwarder('127.0.0.1', [port], (e) => events.push(e), '127.0.0.2');
    await once(servers[0]!, 'listening');
    const c = connect({ host: '127.0.0.2', port });
    const chunks: Buffer[] = [];
    c.on('data', (d: Buffer) => chunks.push(d));
    await once(c, 'close');
    expect(Buffer.concat(chunks).toString()).toBe('hello from the sandbox\n');
    for (let i = 0; i < 50 && !events.some((e) => e.preview === 'close'); i++) await new Promise((r) => setTimeout(r, 10));
    expect(events.map((e) => `${e.preview}:${e.open}`)).toEqual(['listening:0', 'open:1', 'close:0']);
    servers.forEach((s) => s.close());
    target.close();
  });
});
