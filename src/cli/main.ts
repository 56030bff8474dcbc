import { Command, CommanderError } from 'commander';
import { instanceFromEnv } from '../config/env.js';
import { createLogger, type Logger } from '../log.js';
import { Warden } from '../sandbox/warden.js';
import type { WardenApi } from '../client/api.js';
import { remoteFromEnv } from '../client/env.js';
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
import { EXIT_WARDEN_FAILURE, reportError } from './output.js';

/** The `warden` CLI: thin commands over the SDK. Returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  let log: Logger | undefined;
  let warden: Warden | undefined;
  const getLog = (): Logger => (log ??= createLogger());
  const remote = remoteFromEnv();
  const local = (): Warden => (warden ??= new Warden({ logger: getLog(), ...instanceFromEnv() }));
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
    .version('0.1.0')
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
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_WARDEN_FAILURE;
    return reportError(err, argv.includes('--json'));
  }
}
