/** Parsing of human units used in specs and CLI flags. Each returns undefined on bad input, so callers word the error. */

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1024, kb: 1024, kib: 1024,
  m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3,
  t: 1024 ** 4, tb: 1024 ** 4, tib: 1024 ** 4,
};

/** "512m", "2g", "1.5GiB", "1048576" -> bytes (binary units, as `docker run --memory`). */
export function parseBytes(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isInteger(input) && input > 0 ? input : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(input);
  if (!m) return undefined;
  const unit = SIZE_UNITS[(m[2] ?? '').toLowerCase()];
  if (unit === undefined) return undefined;
  const value = Math.round(Number(m[1]) * unit);
  return value > 0 ? value : undefined;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The longest duration Warden takes anywhere (a year): past it a typo, not a plan. */
export const MAX_DURATION_MS = 366 * 86_400_000;

/**
 * "30s", "5m", "1h30m", "250ms" -> milliseconds. A bare number means **seconds**, as in docker
 * (`stop -t 10`) and coreutils (`timeout 60`): `10`, `'10'` and `'0.5'` are 10 s, 10 s and 500 ms.
 * Fields that take milliseconds say so in their name (`timeoutMs`) and never come through here.
 */
export function parseDuration(input: string | number): number | undefined {
  const s = typeof input === 'number' ? String(input) : input.trim();
  if (typeof input === 'number' && !Number.isFinite(input)) return undefined;
  let total: number;
  if (/^\d+(?:\.\d+)?$/.test(s)) total = Number(s) * 1000;
  else {
    const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
    total = 0;
    let matched = 0;
    for (let m = re.exec(s); m; m = re.exec(s)) {
      total += Number(m[1]) * (DURATION_UNITS[m[2] as string] ?? 0);
      matched = re.lastIndex;
    }
    if (matched !== s.length || s.length === 0) return undefined;
  }
  const ms = Math.round(total);
  return ms > 0 && ms <= MAX_DURATION_MS ? ms : undefined;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v >= 10 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}
