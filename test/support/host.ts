import { execFileSync } from 'node:child_process';

/** Host processes, in any namespace, whose command line starts with `prefix` (e.g. 'sleep 4242'). */
export function hostProcs(prefix: string): string[] {
  return execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(prefix));
}
