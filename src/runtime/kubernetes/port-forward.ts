import { createServer, type Server, type Socket } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import WebSocket from 'ws';
import { WardenError } from '../../errors.js';

/** The port-forward websocket subprotocol: per port a data channel (0) and an error channel (1). */
export const PORTFORWARD_SUBPROTOCOL = 'v4.channel.k8s.io';
const HIGH_WATER = 1024 * 1024;

/**
 * Opens one port-forward websocket to `port` of `pod` (one TCP connection inside the pod's network
 * namespace, made by the kubelet's runtime: no network policy is between, none is needed). The server
 * starts each channel with the port number (2 bytes, little endian); data follows on channel 0, a
 * failure's text on channel 1.
 */
export async function openPortForward(kc: KubeConfig, namespace: string, pod: string, port: number): Promise<{ ws: WebSocket; early: Buffer[] }> {
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) throw new WardenError('ENGINE_UNAVAILABLE', 'port-forward: no Kubernetes cluster configured (KUBECONFIG)');
  const url = new URL(cluster.server);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/api/v1/namespaces/${namespace}/pods/${pod}/portforward`;
  url.search = new URLSearchParams({ ports: String(port) }).toString();
  const options: WebSocket.ClientOptions = { handshakeTimeout: 30_000, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024, skipUTF8Validation: true, followRedirects: false };
  await kc.applyToHTTPSOptions(options);
  const ws = new WebSocket(url, [PORTFORWARD_SUBPROTOCOL], options);
  // the port frames come with the upgrade and are emitted before `await` returns: keep them for bridge()
  const early: Buffer[] = [];
  const keep = (d: Buffer): void => void early.push(d);
  ws.on('message', keep);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (_req, res) => reject(new WardenError('ENGINE_ERROR', `port-forward to ${namespace}/${pod}:${port}: the API server answered ${res.statusCode}`)));
    ws.once('error', (err) => reject(new WardenError('ENGINE_UNAVAILABLE', `port-forward to ${namespace}/${pod}:${port}: ${err.message}`, { cause: err })));
  });
  ws.off('message', keep);
  return { ws, early };
}

/** Pipes a local connection through a port-forward websocket, with backpressure both ways. */
export function bridge(socket: Socket, ws: WebSocket, early: Buffer[], onError: (message: string) => void): void {
  const seen = [false, false];
  const onMessage = (data: Buffer): void => {
    if (data.length === 0) return;
    const channel = data[0] ?? 0;
    let payload = data.subarray(1);
    if (channel > 1) return;
    if (!seen[channel]) {
      seen[channel] = true;
      payload = payload.subarray(2); // the port number
    }
    if (payload.length === 0) return;
    if (channel === 1) {
      onError(payload.toString('utf8'));
      socket.destroy();
      ws.terminate();
      return;
    }
    if (!socket.write(payload)) {
      ws.pause();
      socket.once('drain', () => ws.resume());
    }
  };
  for (const d of early) onMessage(d);
  ws.on('message', onMessage);
  socket.on('data', (chunk: Buffer) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    const frame = Buffer.allocUnsafe(chunk.length + 1);
    frame[0] = 0;
    chunk.copy(frame, 1);
    ws.send(frame);
    if (ws.bufferedAmount > HIGH_WATER) {
      socket.pause();
      const wait = (): void => {
        if (ws.readyState !== WebSocket.OPEN || ws.bufferedAmount <= HIGH_WATER / 2) socket.resume();
        else setTimeout(wait, 5);
      };
      setTimeout(wait, 5);
    }
  });
  // websockets have no half-close here: whichever side ends first ends both
  socket.on('end', () => ws.close(1000));
  socket.on('error', () => ws.terminate());
  ws.on('close', () => socket.end());
  ws.on('error', () => socket.destroy());
}

interface Listener {
  server: Server;
  hostIp: string;
  hostPort: number;
}

/**
 * Preview ports on Kubernetes: a listener of this process on the host (127.0.0.1 unless the plan asks
 * otherwise) per unit port, each connection a port-forward through the API server into the pod. The
 * sandbox's network policy refuses every connection from other pods and nodes; the API server's
 * authentication and the host's loopback decide who reaches it. Each Warden process that finds the
 * unit forwards on its own listener (the plan's fixed host port only where it is free).
 */
export class PreviewForwarder {
  private readonly listeners = new Map<string, Promise<Listener>>();
  private readonly activity = new Map<string, { at: number; open: number }>();

  constructor(
    private readonly kc: KubeConfig,
    private readonly namespace: string,
  ) {}

  /** The host address forwarding to `containerPort` of `pod` (made on first use). */
  async ensure(pod: string, containerPort: number, hostIp: string, hostPort?: number): Promise<{ hostIp: string; hostPort: number }> {
    const key = `${pod}:${containerPort}`;
    let l = this.listeners.get(key);
    if (!l) {
      l = this.listen(pod, containerPort, hostIp, hostPort);
      this.listeners.set(key, l);
      l.catch(() => this.listeners.delete(key));
    }
    const got = await l;
    return { hostIp: got.hostIp, hostPort: got.hostPort };
  }

  private async listen(pod: string, containerPort: number, hostIp: string, hostPort?: number): Promise<Listener> {
    const server = createServer((socket) => {
      const a = this.activity.get(pod) ?? { at: 0, open: 0 };
      a.open++;
      a.at = Date.now();
      this.activity.set(pod, a);
      socket.once('close', () => {
        a.open = Math.max(0, a.open - 1);
        a.at = Date.now();
      });
      socket.pause();
      openPortForward(this.kc, this.namespace, pod, containerPort).then(
        ({ ws, early }) => {
          bridge(socket, ws, early, () => undefined);
          socket.resume();
        },
        () => socket.destroy(),
      );
    });
    const listenOn = (port: number) =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: hostIp, port }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    try {
      await listenOn(hostPort ?? 0);
    } catch (err) {
      // a fixed host port another process (another Warden finding this unit) holds: take any free one
      if (hostPort === undefined || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      await listenOn(0);
    }
    server.unref();
    const addr = server.address();
    return { server, hostIp, hostPort: typeof addr === 'object' && addr ? addr.port : 0 };
  }

  /** The last preview connection event of a pod, when this process forwarded any. */
  lastActivity(pod: string): { at: number; open: number } | undefined {
    const a = this.activity.get(pod);
    return a ? { ...a } : undefined;
  }

  /** Stops forwarding to a pod (it stopped or was removed). */
  async close(pod: string): Promise<void> {
    const mine = [...this.listeners.entries()].filter(([k]) => k.startsWith(`${pod}:`));
    for (const [k] of mine) this.listeners.delete(k);
    await Promise.all(mine.map(async ([, l]) => (await l.catch(() => undefined))?.server.close()));
  }

  async closeAll(): Promise<void> {
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(all.map(async (l) => (await l.catch(() => undefined))?.server.close()));
  }
}
