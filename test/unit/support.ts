import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/log.js';
import { MemoryRuntime, type MemoryRuntimeOptions } from '../../src/runtime/memory/memory-runtime.js';
import { Warden } from '../../src/sandbox/warden.js';

/**
 * The unit tier's Warden: the whole core over the in-memory runtime (no engine, no images). Each call
 * makes a fresh runtime; `close()` removes every unit and the temporary home.
 */
export async function memoryWarden(o: MemoryRuntimeOptions & { instance?: string; runtime?: MemoryRuntime } = {}): Promise<{ warden: Warden; runtime: MemoryRuntime; close(): Promise<void> }> {
  const runtime = o.runtime ?? new MemoryRuntime({ size: { cpus: 4, memoryBytes: 8 * 1024 ** 3 }, ...o });
  const home = await mkdtemp(join(tmpdir(), 'warden-unit-home-'));
  const warden = new Warden({ runtime, owner: 'unit@test', instance: o.instance ?? 'unit', logger: createLogger('silent'), egress: { secrets: {} }, hostPathMap: [] });
  return {
    warden,
    runtime,
    close: async () => {
      await runtime.close();
      await rm(home, { recursive: true, force: true });
    },
  };
}
