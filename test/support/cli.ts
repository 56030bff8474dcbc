import { spawn } from 'node:child_process';
import { TEST_RUN_LABEL } from './labels.js';
import { runId } from './fixture.js';

export interface CliResult { code: number; stdout: string; stderr: string; /** stdout exactly as written (binary output) */ stdoutBytes: Buffer }

/** Run the built `warden` CLI as a user would, with this test run's labels. */
export function cli(args: string[], opts: { input?: string; env?: Record<string, string>; /** called with all stdout so far, as it arrives */ onStdout?: (soFar: string) => void } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', ['bin/warden.js', ...args], {
      env: { ...process.env, WARDEN_LOG_LEVEL: 'error', WARDEN_OWNER: `test-${runId()}`, WARDEN_LABELS: `${TEST_RUN_LABEL}=${runId()}`, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => {
      out.push(d);
      opts.onStdout?.(Buffer.concat(out).toString());
    });
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code: code ?? -1, stdout: stdoutBytes.toString(), stderr: Buffer.concat(err).toString(), stdoutBytes });
    });
    child.stdin.end(opts.input ?? '');
  });
}
