import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../log.js';
import { DockerEngine } from './engine.js';

/**
 * How an exec's wait() ends when the engine's word and the container disagree. These cases cannot be
 * made on a healthy engine (a runtime that died without the engine hearing of its exec: seen with
 * runsc), so the engine is a stand-in object here: only the calls exec() and wait() make.
 */
function fakeEngine(opts: { execRunning: () => boolean; container: () => 'running' | 'gone' | 'unreachable'; exitCode?: number }) {
  const stream = new PassThrough();
  const notFound = Object.assign(new Error('no such container'), { statusCode: 404 });
  const unreachable = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  const docker = {
    getContainer: () => ({
      exec: async () => ({
        start: async () => stream,
        inspect: async () => ({ Running: opts.execRunning(), ExitCode: opts.exitCode ?? null }),
      }),
      inspect: async () => {
        const c = opts.container();
        if (c === 'gone') throw notFound;
        if (c === 'unreachable') throw unreachable;
        return { State: { Running: true } };
      },
    }),
  } as unknown as Docker;
  return { engine: new DockerEngine(docker, createLogger('silent')), stream };
}

const req = { cmd: ['sleep', '100'], env: {}, user: 'agent', stdin: false };

describe('docker engine: an exec whose output ended', () => {
  it('ends with its exit code once the engine says it ended', async () => {
    let rounds = 0;
    const { engine, stream } = fakeEngine({ execRunning: () => ++rounds < 4, container: () => 'running', exitCode: 3 });
    const ex = await engine.exec('c1', req);
    ex.stdout.resume(); // read, as the SDK does: its end is seen
    ex.stderr.resume();
    stream.end();
    expect(await ex.wait()).toBe(3);
  });

  it('ends killed (137) when the engine still calls it running but its container is gone, instead of polling forever', async () => {
    const { engine, stream } = fakeEngine({ execRunning: () => true, container: () => 'gone' });
    const ex = await engine.exec('c1', req);
    ex.stdout.resume(); // read, as the SDK does: its end is seen
    ex.stderr.resume();
    stream.end();
    expect(await ex.wait()).toBe(137);
  });

  it.each([
    ['keeps waiting while the container runs (a command that closed its output and goes on is not ended)', 'running', 0],
    ['an engine that cannot say whether the container runs does not end the command', 'unreachable', 5],
  ] as const)('%s', async (_title, state, exitCode) => {
    let running = true;
    let asked = 0;
    let askedTwice = (): void => undefined;
    const twice = new Promise<void>((r) => (askedTwice = r));
    const container = () => {
      if (++asked === 2) askedTwice();
      return state;
    };
    const { engine, stream } = fakeEngine({ execRunning: () => running, container, exitCode });
    const ex = await engine.exec('c1', req);
    ex.stdout.resume(); // read, as the SDK does: its end is seen
    ex.stderr.resume();
    stream.end();
    let done = false;
    const waited = ex.wait().then((c) => ((done = true), c));
    await twice; // the container was asked, twice: still waiting
    expect(done).toBe(false);
    running = false;
    expect(await waited).toBe(exitCode);
  });
});
