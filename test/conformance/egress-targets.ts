import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';

/** What a counting server got: TCP connections and UDP datagrams. */
export interface Seen {
  tcp: number;
  udp: number;
}

/**
 * A counting server on this machine (the host the units run on, or beside): TCP and UDP on one port of
 * every address (`::`, dual stack). The egress tests aim the units' tries at each of the host's own
 * addresses and then read how much arrived.
 */
export async function hostCounter(): Promise<{ port: number; seen(): Seen; close(): Promise<void> }> {
  const seen: Seen = { tcp: 0, udp: 0 };
  const tcp: Server = createServer((c) => {
    seen.tcp++;
    c.end('HTTP/1.0 200 OK\r\n\r\nhost\n');
    c.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => tcp.once('error', reject).listen({ host: '::', port: 0, ipv6Only: false }, resolve));
  const port = (tcp.address() as { port: number }).port;
  const udp: UdpSocket = createSocket({ type: 'udp6', ipv6Only: false });
  udp.on('message', () => seen.udp++);
  // the UDP port of the TCP one; taken by someone else (rare): try again on another
  const bound = await new Promise<boolean>((resolve) => {
    udp.once('error', () => resolve(false));
    udp.bind({ address: '::', port }, () => resolve(true));
  });
  if (!bound) {
    tcp.close();
    udp.close();
    return hostCounter();
  }
  return {
    port,
    seen: () => ({ ...seen }),
    close: async () => {
      udp.close();
      await new Promise((r) => tcp.close(r));
    },
  };
}

/** This machine's addresses beyond loopback (inside a unit loopback is the unit's own): IPv4 and global IPv6. */
export function hostAddresses(): string[] {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      if (a.family === 'IPv6' && /^fe80:/i.test(a.address)) continue; // link-local needs a zone the unit does not have
      out.add(a.address);
    }
  }
  return [...out].slice(0, 24); // each try is a process in the unit: stay well under its pids cap
}

/** Every spelling of an IPv4 address a resolver or a URL parser accepts: dotted, one number, hex, octal, IPv4-mapped IPv6. */
export function spellings(ip: string): string[] {
  const o = ip.split('.').map(Number);
  if (o.length !== 4 || o.some((n) => !(n >= 0 && n <= 255))) return [`[${ip}]`];
  const n = o.reduce((acc, x) => acc * 256 + x, 0);
  return [ip, String(n), `0x${n.toString(16)}`, o.map((x) => `0${x.toString(8)}`).join('.'), `[::ffff:${ip}]`];
}

/** `tcp:` and `udp:` targets of guest/egress-probe.sh for a host as an argument (IPv6 in brackets). */
export const hostArg = (ip: string): string => (ip.includes(':') && !ip.startsWith('[') ? `[${ip}]` : ip);
