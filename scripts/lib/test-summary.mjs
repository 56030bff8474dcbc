// The closing summary of scripts/test.sh over every tier's vitest JSON report (one directory of them):
// each failed test named with its file and the head of its error (CI shows only the log's tail, so the
// failures are named there, not only hundreds of lines above), the skipped count, then the closing line
// in the plain form CI reads, last and with nothing after it: "N passed, N failed".
import { readdirSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node scripts/lib/test-summary.mjs REPORT_DIR');
  process.exit(2);
}
const ERROR_LINES = 8;
const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
const head = (s) => strip(s).split('\n').filter((l) => l.trim() !== '').slice(0, ERROR_LINES).map((l) => `      ${l}`).join('\n');

let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];
for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  const tier = file.replace(/\.json$/, '');
  let report;
  try {
    report = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8'));
  } catch (e) {
    failures.push(`  [${tier}] its report could not be read (${e.message}): the tier did not finish`);
    failed += 1;
    continue;
  }
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  skipped += report.numPendingTests + (report.numTodoTests || 0);
  for (const suite of report.testResults ?? []) {
    const where = relative(process.cwd(), suite.name);
    const failedTests = (suite.assertionResults ?? []).filter((t) => t.status === 'failed');
    for (const t of failedTests) {
      failures.push(`  [${tier}] ${where} > ${t.fullName}\n${head((t.failureMessages ?? []).join('\n'))}`);
    }
    // a file that failed outside any test (an import error, a hook): vitest counts no failed test for it
    if (suite.status === 'failed' && failedTests.length === 0) {
      failures.push(`  [${tier}] ${where} (the file itself failed)\n${head(suite.message ?? '')}`);
      failed += 1;
    }
  }
}
if (failures.length > 0) {
  console.log(`failed (${failures.length}):`);
  for (const f of failures) console.log(f);
}
console.log(`skipped tests: ${skipped} (each names its reason above)`);
console.log(`${passed} passed, ${failed} failed`);
