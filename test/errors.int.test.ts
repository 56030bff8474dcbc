import Docker from 'dockerode';
import { listShims } from '../src/runtime/docker/orphan-shims.js';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { DockerSandboxRuntime } from '../src/runtime/docker/docker-sandbox-runtime.js';
import { Warden } from '../src/sandbox/warden.js';
import { runId, sandboxPool, testWarden } from './support/fixture.js';
import { wardenImage } from '../src/images/catalog.js';
import { engineOf } from './support/engine.js';

const owner = `test-${runId()}-errors`;
const warden = testWarden(owner);
const pool = sandboxPool(warden);
afterAll(() => pool.cleanup());

const leftovers = async (): Promise<number> => (await warden.list({ owner })).length;

describe('bad input: a clear error and nothing half-created', () => {
  it('an unknown image says how to get it', async () => {
    const err = await warden.create({ image: 'warden-no-such-image:1' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'IMAGE_NOT_FOUND' });
    expect((err as Error).message).toMatch(/warden-no-such-image:1.*warden images build/);
    expect(await leftovers()).toBe(0);
  });

  it('a missing workspace names the path and the fix', async () => {
    await expect(warden.create({ workspace: '/nonexistent/project' })).rejects.toThrow(/workspace: '\/nonexistent\/project' does not exist; create it first/);
    expect(await leftovers()).toBe(0);
  });

  it('an invalid memory string names the field and an example', async () => {
    await expect(warden.create({ resources: { memory: 'lots' } })).rejects.toThrow(/resources.memory: 'lots' is not a memory size; use .* 512m or 2g/);
  });

  it('a clashing name is refused and the existing sandbox is untouched', async () => {
    const name = `clash-${runId()}`;
    const first = await pool.create({ name });
    await expect(warden.create({ name })).rejects.toMatchObject({ code: 'NAME_CONFLICT' });
    expect((await first.refreshInfo()).state).toBe('running');
    expect(await leftovers()).toBe(1);
  });

  it('create with a key that has a sandbox is refused, naming it and ensure(); nothing else is made', async () => {
    const key = `clash-key-${runId()}`;
    const first = await pool.create({ key });
    const before = await leftovers();
    const err = await warden.create({ key }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'NAME_CONFLICT' });
    expect((err as Error).message).toContain(`key '${key}' already has sandbox ${first.id}`);
    expect((err as Error).message).toMatch(/ensure\(\)/);
    expect(await leftovers()).toBe(before);
    expect((await warden.ensure({ key })).id).toBe(first.id);
    await warden.remove(first.containerId, { force: true }); // later tests count what is left
  });

  it('a container that fails to start is removed before the error propagates', async () => {
    // a directory mounted over a file of the image: the engine creates the container, then cannot start it
    const dir = await mkdtemp(join(tmpdir(), 'warden-over-file-'));
    try {
      const err = await warden.create({ mounts: [{ source: dir, target: '/etc/passwd' }] }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ENGINE_ERROR' });
      expect((err as Error).message).toMatch(/starting container/);
      expect(await leftovers()).toBe(1); // only the clash test's sandbox
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('an image without a shell still gets a guarded sandbox (the guard needs nothing from the image)', async () => {
    const docker = new Docker();
    const tar = pack();
    tar.entry({ name: 'hello.txt' }, 'no shell here');
    tar.finalize();
    const ref = `warden-test-noshell:${runId()}`;
    await new Promise<void>((resolve, reject) =>
      docker.importImage(tar as never, { repo: 'warden-test-noshell', tag: runId() }, (err, stream) =>
        err ? reject(err) : docker.modem.followProgress(stream!, (e) => (e ? reject(e) : resolve())),
      ),
    );
    try {
      const sb = await warden.create({ image: ref });
      const r = await sb.exec(['sh', '-c', 'true']);
      expect(r.exitCode).toBe(127);
      expect(r.stderr).toMatch(/warden: sh: command not found/);
      await warden.remove(sb.containerId, { force: true });
      expect(await leftovers()).toBe(1);
    } finally {
      await docker.getImage(ref).remove({ force: true });
    }
  });

  it('an engine that is down says how to start one', async () => {
    const down = new Warden({ runtime: new DockerSandboxRuntime({ socketPath: '/nonexistent/docker.sock', logger: createLogger('silent') }) });
    const err = await down.list().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
    expect((err as Error).message).toMatch(/no Docker engine answers.*dockerd/);
  });

  it('gVisor is used when registered, and refused with a fix when not', async () => {
    const info = await engineOf(warden).info();
    if (info.runtimes.includes('runsc')) {
      const sb = await pool.create({ runtime: 'runsc' });
      const inside = await sb.exec(['sh', '-c', 'cat /proc/version; id -u; grep CapEff /proc/self/status; echo x > /etc/x']);
      expect(inside.stdout).toMatch(/^Linux version /);
      expect(inside.stdout).not.toContain(release()); // gVisor's own kernel, not the host's
      expect(inside.stdout).toMatch(/^1000$/m);
      expect(inside.stdout).toMatch(/CapEff:\s+0+$/m);
      expect(inside.stderr).toMatch(/Permission denied|Read-only/);
      await sb.remove({ force: true });
      // nothing of it left on the host: no runsc sandbox, gofer or shim process naming the container
      const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
      expect(ps.split('\n').filter((l) => l.includes(sb.containerId))).toEqual([]);
      // a gVisor start that fails (its sentry cannot live in 10 MiB) leaves no runsc or shim process behind
      // (scoped to gVisor: other test files start runc containers, with shims of their own, meanwhile)
      const gvisorProcs = () => execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => /runsc/.test(l) && !l.includes('<defunct>')).length;
      const orphanShims = async () => {
        let n = 0;
        for (const shim of await listShims()) if (!(await engineOf(warden).inspect(shim.containerId))) n++;
        return n;
      };
      const before = gvisorProcs();
      await expect(warden.create({ runtime: 'runsc', resources: { memory: '10m' } })).rejects.toMatchObject({ code: 'RUNTIME_UNAVAILABLE' });
      await new Promise((r) => setTimeout(r, 1000));
      expect(gvisorProcs()).toBeLessThanOrEqual(before);
      expect(await orphanShims()).toBe(0);
      expect(await leftovers()).toBe(1); // only the clash test's sandbox
    } else {
      await expect(warden.create({ runtime: 'runsc' })).rejects.toThrow(/runsc.*not registered.*daemon.json/);
    }
  });

  it('unknown sandboxes are SANDBOX_NOT_FOUND', async () => {
    await expect(warden.get('sbx-000000000000')).rejects.toMatchObject({ code: 'SANDBOX_NOT_FOUND' });
    await expect(warden.stop('no-such-sandbox')).rejects.toThrow(/no Warden sandbox 'no-such-sandbox'; `warden ps` lists them/);
  });

  it('refuses to control containers Warden did not create', async () => {
    const docker = new Docker();
    const c = await docker.createContainer({ Image: wardenImage('sandbox'), name: `foreign-${runId()}`, Labels: { 'warden.test-run': runId() } });
    try {
      expect(await warden.find(c.id)).toBeUndefined();
      await expect(warden.remove(`foreign-${runId()}`)).resolves.toBeUndefined();
      expect((await c.inspect()).Id).toBe(c.id); // untouched
    } finally {
      await c.remove({ force: true });
    }
  });
});
