import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import type { Logger } from '../log.js';
import type { Warden } from '../sandbox/warden.js';
import type { WardenApi } from '../client/api.js';
import type { RemoteWarden } from '../client/remote.js';
import { registerAgent } from './commands/agent.js';
import { registerCp } from './commands/cp.js';
import { registerDemo } from './commands/demo.js';
import { registerDoctor } from './commands/doctor.js';
import { registerImages } from './commands/images.js';
import { registerPanic } from './commands/panic.js';
import { registerPrune } from './commands/prune.js';
import { registerSandboxCommands } from './commands/sandbox.js';
import { registerWatch } from './commands/watch.js';
import { registerUp } from './commands/up.js';
import { registerTokens } from './commands/tokens.js';
import { registerCompletion } from './commands/completion.js';
import { registerInspect } from './commands/inspect.js';
import { registerLogs } from './commands/logs.js';
import { EXIT_WARDEN_FAILURE, reportError } from './output.js';

/** This package's version, read from package.json (no SDK loaded for `--version`). */
export function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** Commands that need neither the SDK nor the engine (their run skips loading them). */
const LIGHT_COMMANDS = new Set(['completion']);

/** The `warden` CLI: thin commands over the SDK. Returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  // The SDK (dockerode, zod, pino, the HTTP client) loads only when a command runs, in the preAction hook
  // below: `--help`, `--version` and `completion` start in a fraction of the time.
  let sdk: { createLogger: (level?: string) => Logger; Warden: typeof Warden; instanceFromEnv: typeof import('../config/env.js').instanceFromEnv } | undefined;
  let remote: RemoteWarden | undefined;
  let log: Logger | undefined;
  let warden: Warden | undefined;
  const loaded = () => {
    if (!sdk) throw new Error('internal: the SDK is used before the command runs');
    return sdk;
  };
  const getLog = (): Logger => (log ??= loaded().createLogger());
  const local = (): Warden => (warden ??= new (loaded().Warden)({ logger: getLog(), ...loaded().instanceFromEnv() }));
  const ctx = {
    log: getLog,
    /** The engine directly, or the Warden server at WARDEN_URL: same commands, same output. */
    warden: (): WardenApi => remote ?? local(),
    /** Commands that need the engine itself (doctor, images) always use it. */
    local,
    /** The server at WARDEN_URL, when set (agent runs go through it). */
    remote: () => remote,
    setExit: (c: number): void => {
      exitCode = c;
    },
  };
  const program = new Command('warden')
    .description('Run AI coding agents and any command in hardened Docker sandboxes, and stop them for certain.')
    .version(packageVersion())
    .exitOverride()
    .showHelpAfterError('(warden --help lists the commands)')
    .addHelpText('after', '\nExit codes: a command\'s own exit code passes through; 124 = killed by --timeout; 125 = Warden failed (message on stderr).');
  registerSandboxCommands(program, ctx);
  registerCp(program, ctx);
  registerImages(program, ctx);
  registerDoctor(program, ctx);
  registerDemo(program, ctx);
  registerPanic(program, ctx);
  registerPrune(program, ctx);
  registerWatch(program, ctx);
  registerUp(program, ctx);
  registerAgent(program, ctx);
  registerTokens(program, ctx);
  registerLogs(program, ctx);
  registerInspect(program, ctx);
  registerCompletion(program);
  program.hook('preAction', async (_root, action) => {
    if (LIGHT_COMMANDS.has(action.name())) return;
    const [logMod, wardenMod, envMod, clientEnv] = await Promise.all([import('../log.js'), import('../sandbox/warden.js'), import('../config/env.js'), import('../client/env.js')]);
    sdk = { createLogger: logMod.createLogger, Warden: wardenMod.Warden, instanceFromEnv: envMod.instanceFromEnv };
    remote = clientEnv.remoteFromEnv();
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_WARDEN_FAILURE;
    return reportError(err, argv.includes('--json'));
  }
}
