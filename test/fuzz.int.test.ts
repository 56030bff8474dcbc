import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from './support/compose.js';
import { runId } from './support/fixture.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';

// Issue 14: a property-based fuzzer (schemathesis, from PyPI, cached in a venv by
// scripts/lib/schemathesis.sh) on every route of the server's own /openapi.json, with a real token.
// Gate: zero 5xx, zero crashes, responses as the schema says. Whatever the fuzzer creates carries this
// run's label and its own instance, and is removed by a panic of that instance at the end.

const sh = (cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<{ code: number; out: string }> =>
  new Promise((resolve) => {
    execFile(cmd, args, { cwd: REPO, env: opts.env ?? process.env, timeout: opts.timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, out: `${stdout}${stderr}` });
    });
  });

let s: ServerProcess;
let st: string;

beforeAll(async () => {
  const install = await sh('bash', ['scripts/lib/schemathesis.sh'], { timeoutMs: 300_000 });
  expect(install.code, install.out).toBe(0);
  st = install.out.trim().split('\n').pop()!;
  // no model keys: agent runs the fuzzer starts end at once (failed, AGENT_AUTH_MISSING), no agent sandboxes
  s = await startServerProcess({ instance: `fuzz-${runId()}`, env: { ANTHROPIC_API_KEY: '', WARDEN_ANTHROPIC_API_KEY: '', OPENAI_API_KEY: '', WARDEN_OPENAI_API_KEY: '', GEMINI_API_KEY: '', WARDEN_GEMINI_API_KEY: '' } });
}, 360_000);

afterAll(async () => {
  if (s?.alive()) {
    // what the fuzzer made, for the record (a failure's sandbox can be looked up by name here)
    const made = await s.call('GET', '/api/v1/sandboxes?includeVanished=true');
    await writeFile(join(tmpdir(), `warden-fuzz-${runId()}-sandboxes.json`), JSON.stringify(made.body, null, 2)).catch(() => undefined);
    await writeFile(join(tmpdir(), `warden-fuzz-${runId()}-server.log`), s.log()).catch(() => undefined);
    const p = await s.call('POST', '/api/v1/panic', {});
    console.log(`[fuzz] cleanup: panic of instance fuzz-${runId()} removed ${p.body?.report?.containers ?? '?'} containers`);
  }
  await s?.stop();
}, 120_000);

describe('API fuzzing (schemathesis on /openapi.json)', () => {
  it('every route: no 5xx, no crash, status codes, content types and bodies as documented', async () => {
    const t0 = Date.now();
    const harFile = join(tmpdir(), `warden-fuzz-${runId()}.har`);
    const r = await sh(
      st,
      [
        '--no-color',
        'run', `${s.url}/openapi.json`,
        '-H', `Authorization: Bearer ${s.token}`,
        '--checks', 'all',
        // a schema cannot say that an image must exist, that a workspace must be on the host or that an
        // id must name a running sandbox: schema-valid requests may rightly get a coded 400
        '--exclude-checks', 'positive_data_acceptance',
        '--phases', 'examples,coverage,fuzzing',
        '--max-examples', process.env.WARDEN_FUZZ_EXAMPLES ?? '10',
        // one worker: hypothesis' AST-based lambda descriptions are not thread-safe on Python 3.11
        // ("AST constructor recursion depth mismatch" from the fuzzer itself)
        '--workers', '1',
        '--no-shrink',
        '--request-timeout', '300', // a sandbox the fuzzer made with 0.1 CPU on a loaded machine is slow, not broken
        '--generation-database', 'none',
        '--seed', process.env.WARDEN_FUZZ_SEED ?? String(Number.parseInt(runId().slice(1, 8), 16)),
        // every request with its timing, for the record (a slow route shows here)
        '--report', 'har', '--report-har-path', harFile,
      ],
      { env: { ...process.env, PYTHONPATH: join(REPO, 'test/fuzz'), SCHEMATHESIS_HOOKS: 'warden_hooks' }, timeoutMs: 540_000 },
    );
    const summary = r.out.slice(r.out.lastIndexOf('SUMMARY') - 40);
    const logFile = join(tmpdir(), `warden-fuzz-${runId()}.log`);
    await writeFile(logFile, r.out);
    console.log(`[fuzz] schemathesis ran in ${((Date.now() - t0) / 1000).toFixed(0)} s (full output: ${logFile})\n${summary}`);
    // failures named one per line (request bodies in the output can be megabytes)
    const failures = r.out.split('\n').filter((l) => /^(_{3,} .* _{3,}|- ST\d+ .*|\[\d{3}\] .*|    `\{"error".{0,300})$/.test(l)).join('\n');
    expect(r.code, `${failures.slice(0, 8000)}\n${summary}\nfull output: ${logFile}`).toBe(0);
    expect(r.out).not.toMatch(/ST100|Server error/); // not_a_server_error: no 5xx at all
    expect(s.alive(), s.log()).toBe(true);
    expect(s.log()).not.toMatch(/BUG: (uncaught|unhandled)/);
    expect((await s.call('GET', '/healthz')).status).toBe(200);
  }, 600_000);
});
