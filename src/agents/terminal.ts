import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { PtyApi } from '../client/api.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import type { ExitInfo } from '../sandbox/process.js';
import type { SandboxPty } from '../sandbox/pty.js';

/**
 * An agent's interactive TUI in its sandbox: the terminal session's handle (write, resize, onData, kill,
 * wait), plus the sandbox it runs in. `wait()` resolves once the TUI has exited and its sandbox is removed;
 * `filesChanged` then holds the workspace's `git diff --stat` (when it is a repository).
 */
export class AgentTerminal implements PtyApi {
  private readonly done: Promise<ExitInfo>;
  /** After wait(): the workspace's `git diff --stat`, when it is a repository. */
  filesChanged: string | undefined;
  /** After wait(): the CLI's session id (resume it with `sessionId` / `--resume`), when one was saved. */
  sessionId: string | undefined;

  /** @internal use Agent.interactive */
  constructor(
    private readonly pty: SandboxPty,
    /** The sandbox the TUI runs in (removed when it exits). */
    readonly sandbox: Sandbox,
    finish: (exit: ExitInfo) => Promise<{ filesChanged?: string; sessionId?: string }>,
  ) {
    this.done = pty.wait().then(async (exit) => {
      const r = await finish(exit);
      this.filesChanged = r.filesChanged;
      this.sessionId = r.sessionId;
      return exit;
    });
    this.done.catch(() => undefined);
  }

  get id(): string {
    return this.pty.id;
  }
  get output(): Readable {
    return this.pty.output;
  }
  write(data: string | Buffer): void {
    this.pty.write(data);
  }
  onData(cb: (chunk: Buffer) => void): () => void {
    return this.pty.onData(cb);
  }
  resize(cols: number, rows: number): Promise<void> {
    return this.pty.resize(cols, rows);
  }
  kill(signal?: string): Promise<number> {
    return this.pty.kill(signal);
  }
  wait(): Promise<ExitInfo> {
    return this.done;
  }
  detach(): Promise<void> {
    return this.pty.detach();
  }
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

/**
 * The id of the session a TUI saved in its state dir since `sinceMs`: the newest file (any depth) whose
 * name holds a UUID. Claude Code (`projects/<dir>/<uuid>.jsonl`), Codex (`sessions/.../rollout-...-<uuid>.jsonl`)
 * and Gemini CLI name their session files that way.
 */
export async function latestSession(stateDir: string, sinceMs: number): Promise<string | undefined> {
  let best: { id: string; mtime: number } | undefined;
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > 6) return;
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p, depth + 1);
      else if (e.isFile()) {
        const m = UUID.exec(e.name);
        if (!m) continue;
        const st = await stat(p).catch(() => undefined);
        if (st && st.mtimeMs >= sinceMs - 1000 && (!best || st.mtimeMs > best.mtime)) best = { id: m[0], mtime: st.mtimeMs };
      }
    }
  };
  await walk(stateDir, 0);
  return best?.id;
}
