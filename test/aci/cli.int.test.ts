import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { standin } from './support.js';

/**
 * The real `warden` CLI (bin/warden.js, the core's SDK underneath) with WARDEN_RUNTIME=aci, pointed at
 * the ACI stand-in exactly as at Azure (the global setup's WARDEN_ACI_*, AZURE_* environment): the
 * SDK/CLI work unchanged on top of the ACI backend. Each sandbox is an emulated container group.
 */
interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const owner = `aci-cli-${process.pid}`;
/** Asserts a clean exit, showing what the CLI said when it was not. */
const ok = (r: CliResult): CliResult => {
  expect(r.code, r.stderr).toBe(0);
  return r;
};
const made = new Set<string>();
const work = await mkdtemp(join(tmpdir(), 'aci-cli-'));

function cli(args: string[], opts: { input?: string; owner?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', ['bin/warden.js', ...args], {
      env: { ...process.env, WARDEN_RUNTIME: 'aci', WARDEN_INSTANCE: standin().runId, WARDEN_OWNER: opts.owner ?? owner, WARDEN_LOG_LEVEL: 'error', WARDEN_HOME: work },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    child.stdin.end(opts.input ?? '');
  });
}

afterAll(async () => {
  if (made.size) await cli(['rm', '-f', ...made]);
  await rm(work, { recursive: true, force: true });
});

describe('the warden CLI with WARDEN_RUNTIME=aci, against the ACI stand-in', () => {
  it('create, exec (exit code, stdout and stderr apart, stdin to its end), cp in and out, ps, stop, rm', async () => {
    const name = `cli-${process.pid}`;
    const created = await cli(['create', '--json', '--name', name, '--network', 'open', '--lifetime', 'persistent', '--memory', '512m', '--cpus', '0.5', '-e', 'GREETING=hello']);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const sb = JSON.parse(created.stdout) as { id: string; state: string };
    made.add(sb.id);
    expect(sb.state).toBe('running');

    const r = await cli(['exec', sb.id, '--', 'sh', '-c', 'echo "$GREETING from $(id -u)"; echo oops >&2; exit 7']);
    expect(r).toEqual({ code: 7, stdout: 'hello from 1000\n', stderr: 'oops\n' });
    const piped = await cli(['exec', '-i', name, '--', 'tr', 'a-z', 'A-Z'], { input: 'shout\nno newline at the end' });
    expect(piped).toMatchObject({ code: 0, stdout: 'SHOUT\nNO NEWLINE AT THE END' });

    await writeFile(join(work, 'in.txt'), 'from the host\n');
    ok(await cli(['cp', join(work, 'in.txt'), `${sb.id}:/workspace/in.txt`]));
    expect(await cli(['exec', sb.id, '--', 'sh', '-c', 'cat in.txt; stat -c %u in.txt; echo made here > out.txt'])).toMatchObject({ code: 0, stdout: 'from the host\n1000\n' });
    ok(await cli(['cp', `${sb.id}:/workspace/out.txt`, join(work, 'out.txt')]));
    expect(await readFile(join(work, 'out.txt'), 'utf8')).toBe('made here\n');

    // inspect finds it by its id and by the container group's name (its backend id, what `az container list` shows)
    const inspected = JSON.parse(ok(await cli(['inspect', sb.id])).stdout) as Array<{ ID: string; ContainerID?: string }>;
    expect(inspected[0]).toMatchObject({ ID: sb.id });
    const group = String(inspected[0]!.ContainerID ?? '');
    expect(group).toMatch(/^warden-[a-z0-9-]+$/);
    expect(JSON.parse(ok(await cli(['inspect', group])).stdout)[0]).toMatchObject({ ID: sb.id });

    const ps = ok(await cli(['ps', '-q']));
    expect(ps.stdout.split('\n')).toContain(sb.id);

    ok(await cli(['stop', '-t', '5s', sb.id]));
    expect((await cli(['ps', '-q'])).stdout.split('\n')).not.toContain(sb.id);
    expect((await cli(['ps', '-a', '-q'])).stdout.split('\n')).toContain(sb.id);
    const refused = await cli(['exec', sb.id, '--', 'true']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/not running/i);

    ok(await cli(['rm', sb.id]));
    made.delete(sb.id);
    expect((await cli(['ps', '-a', '-q'])).stdout.split('\n')).not.toContain(sb.id);
    // fifteen CLI processes one after another, each ~1-2 s of CPU (Node + the Azure SDK): on a loaded
    // 2-core machine that alone can pass the suite's 120 s, so this one scenario has twice the budget
  }, 240_000);

  it('doctor checks the ACI backend through the credential and the resource group', async () => {
    const r = await cli(['doctor', '--json']);
    const report = JSON.parse(r.stdout) as { checks: Array<{ name: string; ok: boolean; detail: string }> };
    const runtime = report.checks[0]!;
    expect(runtime.ok, JSON.stringify(runtime)).toBe(true);
    expect(JSON.stringify(runtime)).toMatch(/Azure Container Instances|aci/i);
  });

  it('run: an ephemeral sandbox streams the command, exits with its exit code, and is removed', async () => {
    const runner = `${owner}-run`;
    const r = await cli(['run', '--network', 'open', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'], { owner: runner });
    expect(r).toMatchObject({ code: 3, stdout: 'out\n' });
    expect(r.stderr).toContain('err\n');
    expect(ok(await cli(['ps', '-a', '-q', '--owner', runner])).stdout.trim()).toBe('');
  });

  it("refuses what ACI cannot do with the runtime's coded error, naming the capability and the way out", async () => {
    const careless = `${owner}-careless`;
    const none = await cli(['run', '--', 'true'], { owner: careless }); // network 'none' is the default
    expect(none.code).toBe(125);
    expect(none.stderr).toMatch(/'aci' runtime cannot do network: 'none'.*egressNone/);
    expect(none.stderr).not.toMatch(/\n\s+at /); // no stack
    const allow = await cli(['run', '--network', 'allowlist', '--allow', 'example.com', '--', 'true'], { owner: careless });
    expect(allow.code).toBe(125);
    expect(allow.stderr).toMatch(/egressAllowlist/);
    expect(ok(await cli(['ps', '-a', '-q', '--owner', careless])).stdout.trim()).toBe('');
  });
});
