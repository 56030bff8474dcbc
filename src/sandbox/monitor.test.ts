import { describe, expect, it } from 'vitest';
import { exitReason, parseProcesses, parseStats } from './monitor.js';

describe('parseStats', () => {
  it('reads the cgroup v1 script output', () => {
    const out = [
      'cpu 1000000000 0 1100000000 200000000',
      'quota 150000 100000 ',
      'mem 104857600 536870912 4194304',
      'oom 2',
      'pids 7 512',
      'procs 9',
      'net 100 200',
      'df /tmp 1024 16384',
      'du 2048',
    ].join('\n');
    const s = parseStats(out, { state: 'running', ageMs: 5 });
    expect(s).toMatchObject({ cpuPercent: 50, cpuLimitCores: 1.5, memoryBytes: 100663296, memoryLimitBytes: 536870912, memoryPercent: 18.8, oomKills: 2, pids: 7, pidsLimit: 512, processes: 9, networkRxBytes: 100, networkTxBytes: 200, workspaceBytes: 2097152 });
    expect(s.disk).toEqual([{ path: '/tmp', usedBytes: 1048576, sizeBytes: 16777216, percent: 6.3 }]);
  });
  it('leaves out what it cannot read instead of inventing zeros', () => {
    const s = parseStats('cpu   \nmem  \npids max\ndu ', { state: 'running', ageMs: 1 });
    expect(s.cpuPercent).toBeUndefined();
    expect(s.memoryBytes).toBeUndefined();
    expect(s.pidsLimit).toBeUndefined();
    expect(s.workspaceBytes).toBeUndefined();
  });
});

describe('parseProcesses', () => {
  it('tells the guard (PID 1, exec holders) from the workload, and leaves out its own ps', () => {
    const out = `    PID    PPID    SESS USER                             STAT %CPU   RSS ELAPSED COMMAND
      1       0       1 root                             Ss    0.0   700      10 /.warden/warden-guard init --tied
     19       0      19 root                             Ss    0.0   300       4 /.warden/warden-guard exec --uid 1000 --gid 1000 --id ab -- bash -c npm test
     20      19      20 agent                            Ss    1.5  3000       4 bash -c npm test
     29       0      29 root                             Ss    0.0   300       0 /.warden/warden-guard exec --uid 1000 --gid 1000 -- ps -eo pid,ppid,sess,user:32,stat,pcpu,rss,etimes,args
     30      29      30 agent                            R     0.0  2000       0 ps -eo pid,ppid,sess,user:32,stat,pcpu,rss,etimes,args`;
    expect(parseProcesses(out).map((p) => [p.pid, p.role])).toEqual([[1, 'init'], [19, 'keeper'], [20, 'workload']]);
    expect(parseProcesses(out)[2]).toMatchObject({ command: 'bash -c npm test', rssBytes: 3000 * 1024, cpuPercent: 1.5, elapsedSeconds: 4 });
  });
});

describe('exitReason', () => {
  const record = (spec: Record<string, unknown> = {}) => ({ version: 1 as const, id: 'x', spec, owner: 'o', instance: 'default', lifetime: 'ephemeral' as const, createdAt: '', policyHash: '', user: { uid: 1000, gid: 1000 } });
  const base = { startedAt: '2026-01-01T00:00:00Z', finishedAt: '2026-01-01T00:00:10Z' };
  it('separates the sandbox being OOM-killed from a process in it having been', () => {
    expect(exitReason({ ...base, record: record(), exitCode: 137, oomKilled: true }).reason).toMatch(/the sandbox was OOM-killed/);
    expect(exitReason({ ...base, record: record(), exitCode: 0, oomKilled: true }).reason).toMatch(/a process in it had been OOM-killed/);
  });
  it('recognises maxRuntime and kills', () => {
    expect(exitReason({ ...base, record: record({ maxRuntime: 10000 }), exitCode: 0 }).reason).toMatch(/maxRuntime of 10 s/);
    expect(exitReason({ ...base, record: record(), exitCode: 137 }).reason).toMatch(/SIGKILL/);
  });
  it('the guard\'s own reason in the log wins', () => {
    expect(exitReason({ ...base, record: record(), exitCode: 0 }, 'noise\nwarden: stopped: disk quota of 1.0 MiB exceeded\n')).toEqual({ code: 0, reason: 'disk quota of 1.0 MiB exceeded' });
  });
});
