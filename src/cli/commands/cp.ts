import type { Command } from 'commander';
import { lstat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { WardenError } from '../../errors.js';
import type { WardenApi } from '../../client/api.js';
import type { Readable } from 'node:stream';

const REMOTE = /^([a-zA-Z0-9][a-zA-Z0-9_.-]*):(.*)$/;

/** A real directory (not a link to one): the host side never follows links (host-tree.ts). */
async function isDir(p: string): Promise<boolean> {
  return lstat(p).then((s) => s.isDirectory(), () => false);
}

/** `warden cp SRC DST`: one side is ID:PATH. Files and directories, both directions. */
export function registerCp(program: Command, ctx: { warden: () => WardenApi }): void {
  program
    .command('cp')
    .description('copy files between the host and a sandbox: warden cp ./src ID:/workspace/  |  warden cp ID:/workspace/out ./out  (hard links kept; host-side symbolic links are never followed)')
    .argument('<src>')
    .argument('<dst>')
    .action(async (src: string, dst: string) => {
      // loaded here, not at the top: `warden --help` stays fast
      const [{ extractToHost, packHostTree, writeHostFile }, tarStream] = await Promise.all([import('../../util/host-tree.js'), import('tar-stream')]);
      const s = REMOTE.exec(src);
      const d = REMOTE.exec(dst);
      if (Boolean(s) === Boolean(d)) throw new WardenError('INVALID_ARGUMENT', 'exactly one of SRC and DST must be ID:PATH (a sandbox path)');
      if (d) {
        const sb = await ctx.warden().get(d[1]!);
        const local = resolve(src);
        const st = await lstat(local).catch(() => undefined);
        if (!st) throw new WardenError('INVALID_ARGUMENT', `${src} does not exist on the host`);
        if (st.isSymbolicLink()) throw new WardenError('PATH_REFUSED', `${src} is a symbolic link; copy what it points to by its own path`);
        const target = d[2] || '/workspace';
        if (st.isDirectory() || target.endsWith('/')) {
          // a directory, or a file into a directory: a tar named by the base name
          await sb.files.writeTar(target, packHostTree(local));
        } else {
          // a file to a file path: the tar's one entry renamed to the target's base name
          const dir = target.slice(0, target.lastIndexOf('/')) || '/';
          await sb.files.writeTar(dir, renameOnly(tarStream, packHostTree(local), basename(target)));
        }
        return;
      }
      const sb = await ctx.warden().get(s![1]!);
      const tar = await sb.files.readTar(s![2]!);
      const local = resolve(dst);
      if (await isDir(local)) {
        await extractToHost(tar, local);
        return;
      }
      tar.destroy(); // a single file to a host path that is not a directory: read it whole
      const buf = await sb.files.read(s![2]!);
      await writeHostFile(local, buf);
    });
}

/** A one-file tar with its entry renamed. */
function renameOnly(tarStream: typeof import('tar-stream'), tar: Readable, name: string): Readable {
  const { extract, pack } = tarStream;
  const out = pack();
  const ex = extract();
  ex.on('entry', (h, stream, next) => {
    stream.pipe(out.entry({ ...h, name }, (err) => (err ? ex.destroy(err) : next())));
  });
  ex.on('finish', () => out.finalize());
  ex.on('error', (err) => out.destroy(err));
  tar.pipe(ex);
  return out as unknown as Readable;
}
