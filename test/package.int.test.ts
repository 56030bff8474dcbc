import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { runId } from './support/fixture.js';
import { TEST_RUN_LABEL } from './support/labels.js';

// The npm package as a user gets it: `npm pack`, installed into a fresh project from the tarball (its
// dependencies from the npm registry, native ones built as npm builds them), then the installed `warden`.
const run = promisify(execFile);
let dir: string | undefined;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('npm package', () => {
  it('packs the dashboard, the guest scripts and the built code, no vendored binaries; installs; warden --version; warden up serves /', async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-pack-'));
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { maxBuffer: 64 * 1024 * 1024 });
    const [info] = JSON.parse(stdout) as Array<{ filename: string; size: number; files: Array<{ path: string; size: number }> }>;
    const files = info!.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['bin/warden.js', 'dist/cli/main.js', 'dist/index.js', 'dashboard/index.html', 'dashboard/app.js', 'dashboard/terminal.js', 'dashboard/files.js', 'dashboard/style.css', 'guest/pty.pl', 'docker/sandbox/Dockerfile', 'package.json']));
    expect(files.filter((f) => /\.(tgz|tar\.gz|node)$/.test(f) || f.includes('node_modules/'))).toEqual([]);
    expect(files.filter((f) => /\.test\.js$/.test(f))).toEqual([]);
    expect(info!.size).toBeLessThan(2 * 1024 * 1024);

    const proj = join(dir, 'proj');
    await mkdir(proj);
    await run('npm', ['init', '-y'], { cwd: proj });
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, info!.filename)], { cwd: proj, maxBuffer: 64 * 1024 * 1024 });
    const bin = join(proj, 'node_modules', '.bin', 'warden');
    const version = (await run(bin, ['--version'], { cwd: proj })).stdout.trim();
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    expect((await readdir(join(proj, 'node_modules', 'warden-sandbox'))).sort()).toEqual(expect.arrayContaining(['dashboard', 'dist', 'guest', 'bin']));

    const home = join(dir, 'home');
    const server = spawn(bin, ['up', '--port', '0'], { cwd: proj, env: { ...process.env, WARDEN_HOME: home, WARDEN_LABELS: `${TEST_RUN_LABEL}=${runId()}`, WARDEN_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      let err = '';
      const url = await new Promise<string>((resolve, reject) => {
        server.stderr.on('data', (b: Buffer) => {
          err += b.toString();
          const m = /server listening on (http:\/\/[\d.:]+)/.exec(err);
          if (m) resolve(m[1]!);
        });
        server.once('exit', (code) => reject(new Error(`warden up exited ${code}: ${err}`)));
      });
      const page = await fetch(`${url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<title>Warden</title>');
      for (const asset of ['/dashboard/app.js', '/dashboard/terminal.js', '/dashboard/vendor/xterm.mjs', '/dashboard/vendor/xterm.css', '/dashboard/vendor/addon-fit.mjs']) {
        expect((await fetch(`${url}${asset}`)).status, asset).toBe(200);
      }
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
    } finally {
      server.kill('SIGTERM');
      await new Promise((r) => (server.exitCode !== null ? r(undefined) : server.once('exit', r)));
    }
  }, 600_000);
});
