import { it } from 'vitest';
import type { Capability, ExecRequest, SandboxRuntime } from '../../src/runtime/sandbox-runtime.js';
import type { ConformanceTarget, Limit } from './target.js';

export { plan, RUN_LABEL, uniq, WORKLOAD, type PlanOptions } from './plan.js';

/**
 * `it` for a behaviour of the contract: runs when the runtime declares every capability in `needs`,
 * else is skipped under a name that says which capability it lacks; the name always ends with where
 * it ran ("against the ACI stand-in"). `limit` names a known limit of some backends (the target's
 * `limits` give the reason, which the skipped test's name shows).
 */
export function contractIt(t: ConformanceTarget, rt: SandboxRuntime) {
  return (name: string, needs: Capability[], fn: () => Promise<void>, timeoutMs?: number, limit?: Limit): void => {
    const missing = needs.filter((c) => !rt.capabilities.has(c));
    const title = `${name}${needs.length ? ` [${needs.join(', ')}]` : ''} ${t.where}`;
    const limited = limit ? t.limits?.[limit] : undefined;
    if (missing.length) it.skip(`${title} (not declared: ${missing.join(', ')})`, fn);
    else if (limited) it.skip(`${title} (known limit ${limit}: ${limited})`, fn);
    else it(title, fn, timeoutMs);
  };
}

export interface Ran {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Run a command to its end and collect its output. */
export async function run(rt: SandboxRuntime, id: string, cmd: string[], o: Partial<Omit<ExecRequest, 'cmd'>> & { input?: Buffer | string } = {}): Promise<Ran> {
  const { input, ...rest } = o;
  const h = await rt.exec(id, { cmd, env: {}, user: '0:0', stdin: input !== undefined, ...rest });
  if (input !== undefined) h.stdin!.end(input);
  const [stdout, stderr, exitCode] = await Promise.all([collect(h.stdout), collect(h.stderr), h.wait()]);
  return { stdout: stdout.toString('utf8'), stderr: stderr.toString('utf8'), exitCode };
}

export async function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return Buffer.concat(chunks);
}

/**
 * Reads `read` until `done` holds, for state the contract has no event for (a unit's state as its
 * backend reports it); fails with the last value after `timeoutMs`.
 */
export async function eventually<T>(read: () => Promise<T>, done: (v: T) => boolean, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; ; i++) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(v)?.slice(0, 400)}`);
    await new Promise((r) => setTimeout(r, Math.min(1000, 100 * (i + 1))));
  }
}

/** Collects unit ids to remove after a file's tests. */
export class Made {
  readonly ids: string[] = [];
  add<T extends { id: string }>(u: T): T {
    this.ids.push(u.id);
    return u;
  }
  async cleanup(rt: SandboxRuntime & { close?(): Promise<void> }): Promise<void> {
    await Promise.allSettled(this.ids.map((id) => rt.remove(id)));
    await rt.close?.();
  }
}
