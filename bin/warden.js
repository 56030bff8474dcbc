#!/usr/bin/env node
// The `warden` command. Runs the built CLI (npm run build); scripts/setup.sh builds it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('warden: not built yet; run `npm run build` (or scripts/setup.sh)\n');
  process.exit(125);
}
// a reader that stops early (`warden ps | head`) closes the pipe: end quietly, as coreutils do
for (const s of [process.stdout, process.stderr]) {
  s.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
