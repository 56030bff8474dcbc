import { spawn } from 'node:child_process';
import { TEST_RUN_LABEL } from './labels.js';
import { runId } from './fixture.js';

export interface CliResult { code: number; stdout: string; stderr: string }

/** Run the built `warden` CLI as a user would, with this test run's labels. */
export function cli(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', ['bin/warden.js', ...args], {
      env: { ...process.env, WARDEN_LOG_LEVEL: 'error', WARDEN_OWNER: `test-${runId()}`, WARDEN_LABELS: `${TEST_RUN_LABEL}=${runId()}`, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}
