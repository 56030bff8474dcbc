import type { Command } from 'commander';
import { pipeline } from 'node:stream/promises';
import { WardenError } from '../../errors.js';
import type { WardenApi } from '../../client/api.js';

/** `warden logs [-f] [--tail N] ID`: the sandbox's own log, like `docker logs`. */
export function registerLogs(program: Command, ctx: { warden: () => WardenApi }): void {
  program
    .command('logs')
    .description("the sandbox's own log: why its keeper stopped it (max runtime, disk quota) and its main process's output")
    .argument('<id>', 'sandbox id, name or unique id prefix')
    .option('-f, --follow', 'keep printing new lines until the sandbox stops (Ctrl-C ends it)')
    .option('-n, --tail <lines>', "only the last N lines (default: all)")
    .action(async (id: string, f: { follow?: boolean; tail?: string }) => {
      let tail: number | undefined;
      if (f.tail !== undefined && f.tail !== 'all') {
        tail = Number(f.tail);
        if (!Number.isInteger(tail) || tail < 0) throw new WardenError('INVALID_ARGUMENT', `--tail '${f.tail}' is not a number of lines; use e.g. --tail 100 (or all)`);
      }
      const sb = await ctx.warden().get(id);
      const stream = await sb.logs({ follow: Boolean(f.follow), ...(tail !== undefined ? { tail } : {}) });
      const stop = (): void => void stream.destroy();
      process.once('SIGINT', stop);
      try {
        await pipeline(stream, process.stdout, { end: false }).catch((err: unknown) => {
          if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
        });
      } finally {
        process.off('SIGINT', stop);
      }
    });
}
