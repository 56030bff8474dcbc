/**
 * CLI start-up: `warden --help`, `--version`, `exec --help` and `completion bash` against a bare
 * `node -e ''` in the same run, as medians and ratios (the target: under 3x bare node). Nothing here
 * touches the engine. Run: npm run bench:cli [-- --runs 21]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 15;
const bin = fileURLToPath(new URL('../bin/warden.js', import.meta.url));

function time(args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const cases: Array<[string, string[]]> = [
  ["node -e ''", ['-e', '']],
  ['warden --version', [bin, '--version']],
  ['warden --help', [bin, '--help']],
  ['warden exec --help', [bin, 'exec', '--help']],
  ['warden completion bash', [bin, 'completion', 'bash']],
];
// interleaved rounds: load from other work on the machine falls on every case alike
const samples = new Map<string, number[]>(cases.map(([name]) => [name, []]));
for (const [, args] of cases) time(args); // warm the file cache
for (let i = 0; i < RUNS; i++) for (const [name, args] of cases) samples.get(name)!.push(time(args));
const base = median(samples.get("node -e ''")!);
console.log(`CLI start-up, medians of ${RUNS} interleaved runs`);
console.log(`${'case'.padEnd(26)}${'median ms'.padStart(10)}${'x node'.padStart(9)}`);
for (const [name] of cases) {
  const m = median(samples.get(name)!);
  console.log(`${name.padEnd(26)}${m.toFixed(0).padStart(10)}${(m / base).toFixed(2).padStart(9)}`);
}
