import WebSocket from 'ws';
import { WardenError } from '../../errors.js';

/**
 * Open the terminal of an ACI `executeCommand`: connect to its `webSocketUri` and send its `password`
 * as the first message, as ACI requires (the Azure CLI does the same). What comes back is the
 * command's terminal as text frames. TLS is verified against Node's trust store (plus
 * NODE_EXTRA_CA_CERTS).
 */
export async function openAciTerminal(webSocketUri: string, password: string, opts: { timeoutMs?: number } = {}): Promise<WebSocket> {
  let url: URL;
  try {
    url = new URL(webSocketUri);
  } catch {
    throw new WardenError('EXEC_FAILED', `ACI returned an exec WebSocket URI that is not a URL: ${JSON.stringify(webSocketUri.slice(0, 100))}`);
  }
  if (url.protocol !== 'wss:') throw new WardenError('EXEC_FAILED', `ACI returned a ${url.protocol} exec URI; only wss: is accepted (the password would travel in clear)`);
  const ws = new WebSocket(url, { handshakeTimeout: opts.timeoutMs ?? 30_000, perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', (err) => reject(new WardenError('EXEC_FAILED', `cannot open the exec WebSocket at ${url.host}: ${err.message}`, { cause: err })));
    ws.once('unexpected-response', (_req, res) => {
      reject(new WardenError('EXEC_FAILED', `the exec WebSocket at ${url.host} answered HTTP ${res.statusCode} instead of upgrading (the exec session may have expired or been used already)`));
      ws.terminate();
    });
  });
  ws.send(password);
  return ws;
}
