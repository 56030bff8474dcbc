import type { Command } from 'commander';
import { createReadStream } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { WardenError } from '../../errors.js';
import type { WardenApi } from '../../client/api.js';

const REMOTE = /^([a-zA-Z0-9][a-zA-Z0-9_.-]*):(.*)$/;

async function isDir(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isDirectory(), () => false);
}

/** `warden cp SRC DST`: one side is ID:PATH. Files and directories, both directions. */
export function registerCp(program: Command, ctx: { warden: () => WardenApi }): void {
  program
    .command('cp')
    .description('copy files between the host and a sandbox: warden cp ./src ID:/workspace/  |  warden cp ID:/workspace/out ./out')
    .argument('<src>')
    .argument('<dst>')
    .action(async (src: string, dst: string) => {
      const s = REMOTE.exec(src);
      const d = REMOTE.exec(dst);
      if (Boolean(s) === Boolean(d)) throw new WardenError('INVALID_ARGUMENT', 'exactly one of SRC and DST must be ID:PATH (a sandbox path)');
      if (d) {
        const sb = await ctx.warden().get(d[1]!);
        const local = resolve(src);
        const st = await stat(local).catch(() => undefined);
        if (!st) throw new WardenError('INVALID_ARGUMENT', `${src} does not exist on the host`);
        const target = d[2] || '/workspace';
        if (st.isDirectory()) {
          const { pack: tarFsPack } = await import('tar-fs');
          await sb.files.writeTar(target, tarFsPack(dirname(local), { entries: [basename(local)] }) as unknown as NodeJS.ReadableStream as never);
        } else {
          const dest = target.endsWith('/') ? `${target}${basename(local)}` : target;
          await sb.files.write([{ path: dest, stream: createReadStream(local), size: st.size, mode: st.mode & 0o777 }]);
        }
        return;
      }
      const sb = await ctx.warden().get(s![1]!);
      const tar = await sb.files.readTar(s![2]!);
      const local = resolve(dst);
      if (await isDir(local)) {
        const { extract: tarFsExtract } = await import('tar-fs');
        await pipeline(tar, tarFsExtract(local, { ignore: (_n, h) => h?.type !== 'file' && h?.type !== 'directory' }));
        return;
      }
      tar.destroy(); // a single file to a host path that is not a directory: read it whole
      const buf = await sb.files.read(s![2]!);
      await mkdir(dirname(local), { recursive: true });
      await writeFile(local, buf);
    });
}
