import { mkdtemp, chown, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { createLogger } from '../../src/log.js';
import { Warden } from '../../src/sandbox/warden.js';
import type { Sandbox } from '../../src/sandbox/sandbox.js';
import type { SandboxSpecInput } from '../../src/policy/spec.js';
import { TEST_RUN_LABEL } from './labels.js';

export const runId = (): string => inject('runId');

/** A Warden whose objects carry this test run's label (swept by the global teardown). */
export function testWarden(owner = `test-${runId()}`, opts: { instance?: string } = {}): Warden {
  return new Warden({ owner, labels: { [TEST_RUN_LABEL]: runId() }, logger: createLogger(process.env.WARDEN_LOG_LEVEL ?? 'error'), ...(opts.instance ? { instance: opts.instance } : {}) });
}

/** A temporary host workspace owned by uid 1000 (the sandbox user), removed by cleanup(). */
export async function tempWorkspace(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-ws-'));
  if (process.getuid?.() === 0) await chown(dir, 1000, 1000);
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Create sandboxes that are always removed after the test file, even when a test fails. */
export function sandboxPool(warden: Warden): { create: (spec?: SandboxSpecInput) => Promise<Sandbox>; track: (sb: Sandbox) => Sandbox; cleanup: () => Promise<void> } {
  const made: Sandbox[] = [];
  return {
    create: async (spec = {}) => {
      const sb = await warden.create(spec);
      made.push(sb);
      return sb;
    },
    track: (sb) => {
      made.push(sb);
      return sb;
    },
    cleanup: async () => {
      await Promise.all(made.map((sb) => warden.remove(sb.containerId, { force: true }).catch(() => undefined)));
    },
  };
}
