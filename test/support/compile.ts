import { execFileSync } from 'node:child_process';

/**
 * Compiles dist/ (the CLI tests run the built `warden`; the egress image is built from dist/egress) for a
 * tier's global setup. scripts/test.sh compiles once before its tiers start and sets WARDEN_TEST_COMPILED=1:
 * its Docker and Kubernetes tiers run side by side, and a second tsc rewriting dist/ while the other tier's
 * tests start `warden` from it could hand one of them a half-written file.
 */
export function compileDist(opts: { nice?: boolean } = {}): void {
  if (process.env.WARDEN_TEST_COMPILED === '1') return;
  const tsc = ['npx', 'tsc', '-p', 'tsconfig.build.json'];
  if (opts.nice) execFileSync('nice', ['-n', '19', ...tsc], { stdio: 'inherit' });
  else execFileSync(tsc[0] as string, tsc.slice(1), { stdio: 'inherit' });
}
