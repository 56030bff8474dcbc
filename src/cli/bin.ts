/**
 * The `warden` command run straight from TypeScript (`tsx src/cli/bin.ts ...`): the dev container's
 * entry under `tsx watch`. The published entry is bin/warden.js over the compiled dist/.
 */
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
