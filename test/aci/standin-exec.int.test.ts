import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAciTerminal } from '../../src/runtime/aci/aci-terminal.js';
import { aciClient, groupName, sandboxGroup, standin } from './support.js';

/** Everything a raw ACI terminal sends until it closes. */
function drain(ws: WebSocket, input?: string): Promise<{ text: string; code: number; binaryFrames: number }> {
  return new Promise((resolve) => {
    let text = '';
    let binaryFrames = 0;
    ws.on('message', (d: Buffer, isBinary) => {
      if (isBinary) binaryFrames++;
      text += d.toString('utf8');
    });
    ws.on('close', (code) => resolve({ text, code, binaryFrames }));
    if (input) ws.send(input);
  });
}

describe("ACI's raw exec terminal, as Warden meets it, against the ACI stand-in", () => {
  const client = aciClient();
  const name = groupName('rawexec');
  const rg = (): string => standin().resourceGroup;
  beforeAll(async () => {
    await client.containerGroups.beginCreateOrUpdateAndWait(rg(), name, sandboxGroup());
  });
  afterAll(async () => {
    await client.containerGroups.beginDeleteAndWait(rg(), name).catch(() => undefined);
  });

  it('runs the command string as ONE executable path, with no argument splitting, against the ACI stand-in', async () => {
    const r = await client.containers.executeCommand(rg(), name, 'sandbox', { command: 'echo hi', terminalSize: { rows: 24, cols: 80 } });
    expect(r.webSocketUri).toMatch(/^wss:\/\//);
    expect(r.password).toBeTruthy();
    const out = await drain(await openAciTerminal(r.webSocketUri!, r.password!));
    expect(out.text).toMatch(/executable file not found/);
  });

  it('gives one merged, echoed, CRLF text stream with no exit code and lossy non-UTF-8 bytes against the ACI stand-in', async () => {
    const r = await client.containers.executeCommand(rg(), name, 'sandbox', { command: '/bin/sh', terminalSize: { rows: 24, cols: 80 } });
    const ws = await openAciTerminal(r.webSocketUri!, r.password!);
    const out = await drain(ws, "echo out; echo err >&2; printf 'raw:\\377\\376:end\\n'; exit 3\n");
    expect(out.binaryFrames).toBe(0); // text frames only
    expect(out.text).toContain('echo out; echo err'); // the tty echoes what was typed
    expect(out.text).toContain('out\r\n'); // the line discipline turns \n into \r\n
    expect(out.text).toContain('err\r\n'); // stderr arrives in the same stream
    expect(out.text).toContain('raw:\uFFFD\uFFFD:end'); // bytes that are not UTF-8 are lost
    expect(out.text).not.toMatch(/\b3\b.*exit/); // the exit code is nowhere
    expect(out.code).toBe(1000);
  });

  it('refuses a wrong password and a second use of the same session against the ACI stand-in', async () => {
    const r = await client.containers.executeCommand(rg(), name, 'sandbox', { command: '/bin/sh' });
    const wrong = await openAciTerminal(r.webSocketUri!, 'not-the-password');
    const out = await drain(wrong, 'echo should-not-run\n');
    expect(out.code).toBe(1008);
    expect(out.text).toBe('');
    const again = await openAciTerminal(r.webSocketUri!, r.password!).catch((e: unknown) => e as Error);
    expect(again).toBeInstanceOf(Error);
    expect((again as Error).message).toContain('HTTP 404');
  });
});
