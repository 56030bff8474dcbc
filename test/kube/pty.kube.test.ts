import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import type { Sandbox } from '../../src/sandbox/sandbox.js';
import { Warden } from '../../src/sandbox/warden.js';
import { Screen } from '../support/pty-screen.js';
import { kubeClient, kubeSkipReason, testNamespace, testNamespaceName } from './support/kube.js';
import { eventually } from './support/runtime.js';
import { wardenObjects } from './faults/support.js';

/**
 * A terminal session through the core (`sb.pty()`, what the dashboard's terminal and `warden shell`
 * use) on a pod: the SDK's Warden made as an application makes it, its runtime chosen by
 * WARDEN_RUNTIME=kubernetes from the environment. Typing, the terminal's size and a resize, Ctrl-C to
 * the program, the exit code, and kill() ending the session.
 */
const skip = kubeSkipReason();

describe.skipIf(skip)(`terminal sessions on Kubernetes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const namespace = skip ? '' : testNamespaceName('pty');
  let warden: Warden;
  let sb: Sandbox;
  beforeAll(async () => {
    await testNamespace(kubeClient().kc, 'pty');
    // this worker only: the SDK reads them where an application would
    Object.assign(process.env, { WARDEN_RUNTIME: 'kubernetes', KUBECONFIG: inject('kubeconfig'), WARDEN_KUBE_NAMESPACE: namespace, WARDEN_KUBE_CREATE_NAMESPACE: '0', WARDEN_IMAGE_TAG: inject('kubeImageTag') });
    warden = new Warden({ instance: `pty${Date.now().toString(36)}`, owner: `kube-pty-${process.pid}`, logger: createLogger('silent') });
    expect(warden.runtime.kind).toBe('kubernetes');
    sb = await warden.create({ resources: { memory: '256m' } });
  }, 180_000);
  afterAll(async () => {
    if (sb) await warden.remove(sb.id, { force: true }).catch(() => undefined);
    await warden?.shutdown().catch(() => undefined);
    await kubeClient().core.deleteNamespace({ name: namespace }).catch(() => undefined);
  }, 120_000);

  it('runs the login shell on a terminal in the pod: typing, size, resize, exit code', async () => {
    const pty = await sb.pty({ cols: 100, rows: 30 });
    const screen = new Screen(pty);
    pty.write('echo "[$((6*7))] $(tput cols)x$(tput lines) tty=$(tty) uid=$(id -u)"\r');
    const line = await screen.waitFor(/\[42\] \d+x\d+ tty=\/dev\/pts\/\d+ uid=\d+/);
    expect(line).toMatch(/100x30/);
    expect(line).toMatch(/uid=1000/);
    const mark = screen.mark();
    await pty.resize(132, 43);
    // the resize and what is typed next travel on separate streams (docs/KUBERNETES.md): ask until the new size shows
    await eventually('the new size inside', async () => {
      const m = screen.mark();
      pty.write('echo "now $(tput cols)x$(tput lines)"\r');
      const seen = await screen.waitFor(/now \d+x\d+/, m);
      return seen.includes('132x43');
    }, 30_000);
    expect(screen.all.slice(mark)).toMatch(/now 132x43/);
    pty.write('exit 3\r');
    expect((await pty.wait()).exitCode).toBe(3);
  });

  it('Ctrl-C goes to the program on the terminal, not to Warden', async () => {
    const pty = await sb.pty({ cmd: ['sh', '-c', 'trap "echo got-sigint; exit 5" INT; echo armed; sleep 100 & wait'] });
    const screen = new Screen(pty);
    await screen.waitFor(/armed/);
    pty.write('\x03');
    await screen.waitFor(/got-sigint/);
    expect((await pty.wait()).exitCode).toBe(5);
  });

  it('kill() ends the session, and the sandbox answers after it', async () => {
    const pty = await sb.pty({ cmd: ['bash', '--norc', '-i'] });
    const screen = new Screen(pty);
    pty.write('echo started\r');
    await screen.waitFor(/^started/m);
    await pty.kill();
    const end = await pty.wait();
    expect(end.exitCode).not.toBe(0);
    expect((await sb.exec(['echo', 'still here'])).stdout).toBe('still here\n');
  });

  it('removing the sandbox leaves nothing in the cluster', async () => {
    const id = sb.id;
    await warden.remove(id, { force: true });
    await eventually('nothing of the sandbox is left', async () => (await wardenObjects(namespace, `warden.id=${id}`)).length === 0, 60_000);
  });
});
