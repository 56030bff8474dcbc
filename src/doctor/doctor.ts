import { access, mkdir } from 'node:fs/promises';
import { wardenHome } from '../config/home.js';
import { isWardenError } from '../errors.js';
import { CATALOG } from '../images/catalog.js';
import type { RuntimeCheck, SandboxRuntime } from '../runtime/sandbox-runtime.js';

export type Check = RuntimeCheck;

/** What Warden needs, checked one by one, each with a hint to fix it: the backend, its own checks, images, Warden's home. */
export async function runDoctor(runtime: SandboxRuntime, opts: { home?: string } = {}): Promise<Check[]> {
  const checks: Check[] = [];
  let info;
  try {
    info = await runtime.info();
    const d = info.details;
    checks.push({ name: 'engine', ok: true, detail: [info.version, d.os, d.kernel ? `kernel ${d.kernel}` : undefined].filter(Boolean).join(', ') });
  } catch (err) {
    checks.push({
      name: 'engine',
      ok: false,
      detail: isWardenError(err) ? err.message : String(err),
      hint: 'install and start an engine: apt-get install -y docker.io && (dockerd >/var/log/dockerd.log 2>&1 &), or set DOCKER_HOST',
    });
    return checks;
  }
  const own = runtime.diagnose ? await runtime.diagnose() : [];
  // the backend's checks in their order, Warden's images after its runtime checks
  const split = own.findIndex((c) => c.name === 'base-image');
  const before = split < 0 ? own : own.slice(0, split);
  const after = split < 0 ? [] : own.slice(split);
  checks.push(...before);
  for (const img of CATALOG) {
    const present = await runtime.imageExists(img.ref);
    checks.push({ name: `image:${img.name}`, ok: present, detail: present ? `${img.ref} present` : `${img.ref} missing`, hint: 'warden images build (or warden images bootstrap without a registry)' });
  }
  checks.push(...after);
  const home = opts.home ?? wardenHome();
  try {
    await mkdir(home, { recursive: true });
    await access(home);
    checks.push({ name: 'warden-home', ok: true, detail: home });
  } catch (err) {
    checks.push({ name: 'warden-home', ok: false, detail: `${home}: ${(err as Error).message}`, hint: 'set WARDEN_HOME to a writable directory' });
  }
  return checks;
}
