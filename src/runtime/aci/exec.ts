import { WardenError } from '../../errors.js';
import { guardExec } from '../../guest/argv.js';
import type { ExecHandle, ExecRequest } from '../sandbox-runtime.js';
import { openAciTerminal } from './aci-terminal.js';
import type { AciArm } from './arm.js';
import { FramedExec } from './exec-framing.js';
import { ACI_EXEC, type FramedExecRequest } from './exec-protocol.js';

/** Start `req` in group `group` through executeCommand + warden-aci-exec. */
export async function startFramed(arm: AciArm, group: string, req: FramedExecRequest): Promise<FramedExec> {
  const session = await arm.exec(group, ACI_EXEC);
  const ws = await openAciTerminal(session.webSocketUri, session.password);
  try {
    return await FramedExec.start(ws, req);
  } catch (err) {
    ws.terminate();
    throw err;
  }
}

/**
 * The argv to run for an exec request. ACI runs every exec as the container's user (root in Warden's
 * ACI images) and offers no per-exec user, so another `uid:gid` is reached the way the guard reaches
 * the workload's: through `warden-guard exec`, which drops to it with no capabilities and
 * no-new-privileges.
 */
export function execArgv(req: Pick<ExecRequest, 'cmd' | 'user'>): string[] {
  if (req.cmd.length === 0) throw new WardenError('INVALID_ARGUMENT', 'exec needs a command: cmd is empty');
  const user = req.user.trim();
  if (user === '0:0' || user === '0' || user === 'root' || user === '') return req.cmd;
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!m) throw new WardenError('INVALID_ARGUMENT', `exec user '${req.user}' must be uid:gid in numbers on ACI (no user database is read)`);
  return guardExec(req.cmd, { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) });
}

/** The contract's ExecHandle over a framed exec. */
export function execHandle(p: FramedExec): ExecHandle {
  return {
    stdout: p.stdout,
    stderr: p.stderr,
    ...(p.stdin ? { stdin: p.stdin } : {}),
    wait: () =>
      p.wait().then(
        (e) => e.exitCode,
        (err: unknown) => {
          // detached: the command goes on unseen, and the contract's answer for that is -1
          if (p.detached) return -1;
          // a stream that broke is a failure, never a silent -1: the error carries how it ended
          // (which side closed, the close code, whether the exit record came: details.stream)
          throw err;
        },
      ),
    ...(p.tty ? { resize: (cols: number, rows: number) => p.resize(cols, rows) } : {}),
    detach: () => p.detach(),
  };
}
