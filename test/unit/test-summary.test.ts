import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const script = resolve('scripts/lib/test-summary.mjs');
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function summarize(reports: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-summary-'));
  dirs.push(dir);
  for (const [name, body] of Object.entries(reports)) {
    writeFileSync(join(dir, name), typeof body === 'string' ? body : JSON.stringify(body));
  }
  return execFileSync(process.execPath, [script, dir], { encoding: 'utf8' });
}

const report = (over: Record<string, unknown>) => ({
  numPassedTests: 0,
  numFailedTests: 0,
  numPendingTests: 0,
  numTodoTests: 0,
  testResults: [],
  ...over,
});

describe('the closing summary of the whole suite (scripts/lib/test-summary.mjs)', () => {
  it('names each failed test with its tier, file and the head of its error, and ends with the counts', () => {
    const out = summarize({
      'main.json': report({
        numPassedTests: 5,
        numFailedTests: 1,
        numPendingTests: 2,
        testResults: [
          {
            name: resolve('test/x.int.test.ts'),
            status: 'failed',
            assertionResults: [
              { status: 'passed', fullName: 'x works' },
              { status: 'failed', fullName: 'x breaks', failureMessages: ['\x1b[31mAssertionError: 1 !== 2\x1b[39m\n\n    at line 1'] },
            ],
          },
        ],
      }),
      'kube.json': report({ numPassedTests: 3 }),
    });
    const lines = out.trimEnd().split('\n');
    expect(lines.at(-1)).toBe('8 passed, 1 failed');
    expect(lines.at(-2)).toBe('skipped tests: 2 (each names its reason above)');
    expect(out).toContain('[main] test/x.int.test.ts > x breaks');
    expect(out).toContain('      AssertionError: 1 !== 2\n          at line 1');
    expect(out).not.toContain('\x1b[');
  });

  it('counts a file that failed outside any test, and a report that cannot be read', () => {
    const out = summarize({
      'aci.json': report({
        numPassedTests: 1,
        testResults: [{ name: resolve('test/aci/y.test.ts'), status: 'failed', message: 'Error: hook timed out', assertionResults: [] }],
      }),
      'faults.json': '{"numPassed',
    });
    expect(out).toContain('[aci] test/aci/y.test.ts (the file itself failed)\n      Error: hook timed out');
    expect(out).toContain('[faults] its report could not be read');
    expect(out.trimEnd().split('\n').at(-1)).toBe('1 passed, 2 failed');
  });

  it('prints no failure list when everything passed', () => {
    expect(summarize({ 'main.json': report({ numPassedTests: 4 }) })).toBe('skipped tests: 0 (each names its reason above)\n4 passed, 0 failed\n');
  });
});
