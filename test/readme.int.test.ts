import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from './support/compose.js';
import { runId, tempWorkspace } from './support/fixture.js';
import { TEST_RUN_LABEL } from './support/labels.js';

// Issue 14: the README's own first SDK snippet hung (spawn, then wait() without reading stderr) and
// Node exited 13 with the sandbox left behind. It runs here as written; only the package name (this
// checkout's build), the workspace path (a temp dir) and the test run's label are substituted.
// (The template and agent snippets need the npm registry or a model API, which tests may not reach.)

let ws: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  ws = await tempWorkspace();
  await writeFile(join(ws.dir, 'package.json'), '{"name":"readme-snippet","scripts":{"test":"true","dev":"sleep 60"}}\n');
});
afterAll(() => ws?.cleanup());

function snippets(readme: string): string[] {
  return [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

describe('README snippets', () => {
  it('the SDK snippet runs to the end, and `await using` removes its sandbox', async () => {
    const code = snippets(await readFile(join(REPO, 'README.md'), 'utf8'))[0]!;
    expect(code).toContain("await using sb = await warden.create({");
    const file = join(ws.dir, '..', `readme-snippet-${runId()}.mts`);
    const body = code
      .replace("from 'warden-sandbox'", `from '${join(REPO, 'dist/index.js')}'`)
      .replace("'/srv/projects/42'", JSON.stringify(ws.dir))
      .replace('new Warden()', `new Warden({ labels: { '${TEST_RUN_LABEL}': '${runId()}' } })`);
    await writeFile(file, `${body}\nconsole.log('SNIPPET-DONE', exitCode, text.length);\n`);
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(join(REPO, 'node_modules/.bin/tsx'), [file], { cwd: REPO, env: process.env });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
      child.on('close', (c) => (clearTimeout(timer), resolve({ code: c, out })));
    });
    expect(r.code, r.out).toBe(0); // 13 was "unsettled top-level await": wait() never returned
    expect(r.out).toMatch(/SNIPPET-DONE -?\d+ \d+/);
    // `await using` removed the sandbox: nothing of this workspace is left on the engine
    const { Warden } = await import('../src/sandbox/warden.js');
    const left = (await new Warden().list({ labels: { [TEST_RUN_LABEL]: runId() } })).filter((s) => s.labels['warden.spec']?.includes(ws.dir));
    expect(left).toEqual([]);
  }, 120_000);
});
