import type { Command } from 'commander';
import { chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { wardenHome } from '../../config/home.js';
import type { WardenApi } from '../../client/api.js';
import { streamCommand } from '../stream.js';

const say = (s: string): void => void process.stdout.write(`\n\x1b[1m== ${s}\x1b[0m\n`);

/** Warden's main job for now: a sandbox on a sample workspace, a streamed command, a blocked write, removal. */
export function registerDemo(program: Command, ctx: { warden: () => WardenApi; setExit: (c: number) => void }): void {
  program
    .command('demo')
    .description('create a sandbox on a sample workspace, stream a command, show a blocked write, remove it')
    .action(async () => {
      const ws = join(wardenHome(), 'demo-workspace');
      await mkdir(ws, { recursive: true });
      await writeFile(join(ws, 'README.md'), '# Demo project\nA sample workspace that Warden mounts at /workspace.\n');
      if (process.getuid?.() === 0) await chown(ws, 1000, 1000); // root-owned dirs are not writable by the sandbox user
      const warden = ctx.warden();
      say(`creating a hardened sandbox on ${ws}`);
      const t0 = Date.now();
      await using sb = await warden.create({ workspace: ws, name: `demo-${process.pid}`, resources: { memory: '512m', cpus: 1, pids: 128 } });
      process.stdout.write(`sandbox ${sb.id} (${sb.info.image}) ready in ${Date.now() - t0} ms: uid ${sb.info.user.uid}, no network, read-only root, no capabilities\n`);

      say('streaming a command (stdout and stderr apart)');
      await streamCommand(sb, ['bash', '-c', 'for i in 1 2 3 4 5; do echo "step $i: $(date +%T.%N | cut -c1-12)"; sleep 0.3; done; echo "a warning on stderr" >&2; echo "built at $(date)" > /workspace/build.txt; ls -l /workspace'], { interactive: false });

      say('what the sandbox is allowed');
      const facts = await sb.exec(['bash', '-c', 'echo "user: $(id)"; grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; echo "network interfaces: $(ls /sys/class/net | tr "\\n" " ")"; echo "mounts: $(grep -E " /(workspace|tmp|home/agent) " /proc/mounts | cut -d" " -f2,3,4 | cut -c1-60 | tr "\\n" ";")"']);
      process.stdout.write(facts.stdout);

      say('a blocked write: outside the workspace, the root filesystem is read-only');
      const blocked = await sb.exec(['bash', '-c', 'echo pwned > /etc/passwd-new; echo pwned > /usr/bin/evil']);
      process.stdout.write(blocked.stderr);
      process.stdout.write(`exit code ${blocked.exitCode}: ${blocked.exitCode !== 0 ? 'blocked, as it should be' : 'NOT BLOCKED'}\n`);

      say('files in and out through the archive API');
      await sb.writeFiles([{ path: 'notes/hello.txt', content: 'written from the host\n' }]);
      process.stdout.write(`read back: ${(await sb.readFile('/workspace/build.txt')).toString().trim()}\n`);
      process.stdout.write(`host sees: ${ws}/notes/hello.txt and ${ws}/build.txt\n`);

      say(`removing sandbox ${sb.id}`);
      ctx.setExit(blocked.exitCode !== 0 ? 0 : 1);
    });
}
