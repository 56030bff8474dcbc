import { describe, expect, it } from 'vitest';
import { REMOVED, wardenSeccompProfile } from './seccomp.js';

describe("Warden's seccomp profile", () => {
  const p = wardenSeccompProfile();
  const allowed = new Set(p.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW').flatMap((r) => r.names));

  it('refuses by default with EPERM', () => {
    expect(p.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(p.defaultErrnoRet).toBe(1);
  });

  it('allows none of the removed calls (io_uring, open_by_handle_at, keyrings, userfaultfd, ...)', () => {
    for (const name of Object.keys(REMOVED)) expect(allowed.has(name), name).toBe(false);
    for (const name of ['io_uring_setup', 'io_uring_enter', 'io_uring_register', 'open_by_handle_at']) expect(REMOVED[name]).toBeTruthy();
  });

  it('allows nothing that needs a capability the sandbox lacks (mount, namespaces, modules, bpf, clock)', () => {
    for (const name of ['mount', 'umount2', 'unshare', 'setns', 'init_module', 'bpf', 'perf_event_open', 'clock_settime', 'reboot', 'chroot', 'pivot_root', 'kexec_load', 'swapon']) {
      expect(allowed.has(name), name).toBe(false);
    }
  });

  it('keeps what the guard and ordinary programs need, clone only without namespace flags, clone3 as ENOSYS', () => {
    for (const name of ['prctl', 'setuid', 'setgid', 'setgroups', 'kill', 'signalfd4', 'ppoll', 'execve', 'wait4', 'fork', 'futex']) expect(allowed.has(name), name).toBe(true);
    const clone = p.syscalls.find((r) => r.names.includes('clone'));
    expect(clone?.args?.[0]).toMatchObject({ index: 0, op: 'SCMP_CMP_MASKED_EQ', value: 2114060288 });
    expect(p.syscalls.find((r) => r.names.includes('clone3'))).toMatchObject({ action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
  });
});
