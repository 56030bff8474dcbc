/**
 * Entry point of a preview forwarder (image warden-egress, `node /app/forwarder.js TARGET PORT...`): a
 * plain TCP pipe from each published port to the same port of its sandbox (TARGET, its name on the
 * sandbox's internal network). It has no input that chooses a destination: it connects only to TARGET,
 * only on its ports, only when the host opens a connection. One JSON line per connection opened or
 * closed, with how many are still open (the idle policy reads them as preview activity).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface ForwarderEvent { preview: 'listening' | 'open' | 'close'; port: number; open: number; t: string }

/** Listen on each port and pipe every connection to `target:port`; `log` hears each event. */
export function startForwarder(target: string, ports: number[], log: (ev: ForwarderEvent) => void, host = '0.0.0.0'): Server[] {
  let open = 0;
  const emit = (preview: ForwarderEvent['preview'], port: number): void => log({ preview, port, open, t: new Date().toISOString() });
  return ports.map((port) =>
    createServer((c: Socket) => {
      open++;
      emit('open', port);
      const u = connect({ host: target, port });
      let done = false;
      const end = (): void => {
        if (done) return;
        done = true;
        open--;
        emit('close', port);
        c.destroy();
        u.destroy();
      };
      for (const s of [c, u]) {
        s.on('error', end);
        s.on('close', end);
      }
      c.pipe(u);
      u.pipe(c);
    }).listen(port, host, () => emit('listening', port)),
  );
}

/** True when this module is the process's entry (not imported by a test). */
const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;

if (isMain) {
  const [target, ...ports] = process.argv.slice(2);
  if (!target || ports.length === 0 || ports.some((p) => !/^\d+$/.test(p))) {
    process.stderr.write('usage: forwarder.js TARGET PORT...\n');
    process.exit(2);
  }
  startForwarder(target, ports.map(Number), (ev) => void process.stdout.write(`${JSON.stringify(ev)}\n`));
  process.on('uncaughtException', (err) => process.stderr.write(`warden preview: ${err.stack ?? String(err)}\n`));
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
  // tied to an ephemeral sandbox's owner (the dead-man switch): the owner holds stdin; EOF means it is gone
  if (process.env.WARDEN_TIED === '1') {
    process.stdin.on('end', () => process.exit(0));
    process.stdin.resume();
  }
}
