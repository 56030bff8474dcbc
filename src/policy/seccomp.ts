/**
 * Warden's seccomp profile: the system calls a sandbox may make. It starts from what the engine's
 * default profile (Docker 20.10+) allows a container without extra capabilities, and takes out the
 * calls whose risk outweighs their use in a coding sandbox. Everything not listed fails with EPERM.
 * Each group says why it is here; the removals are listed in REMOVED with the reason.
 *
 * The guard (warden-guard) needs nothing beyond the ordinary groups: prctl (subreaper, no-new-privs),
 * setuid/setgid/setgroups (dropping to the workload user), kill, signalfd, poll, and /proc reads.
 */

/** Calls the engine's default profile allows that Warden's does not, and why. */
export const REMOVED: Record<string, string> = {
  io_uring_setup: 'io_uring: a large, fast-moving kernel surface behind many local privilege escalations; bypasses per-call seccomp filtering of the operations it submits',
  io_uring_enter: 'io_uring (see io_uring_setup)',
  io_uring_register: 'io_uring (see io_uring_setup)',
  open_by_handle_at: "with CAP_DAC_READ_SEARCH (which the guard holds) it opens files by handle and escapes the container's mount namespace (the 'shocker' escape); the engine's default allows it for that capability",
  name_to_handle_at: 'only useful with open_by_handle_at; leaks file handles of the host filesystem',
  remap_file_pages: 'deprecated (emulated since Linux 3.16), no use in a sandbox, a history of bugs',
  userfaultfd: 'lets a process stall kernel copies at will, the building block of many race exploits (not in the default list either; named here so it stays out)',
  keyctl: 'the kernel keyring is not namespaced (not in the default either)',
  add_key: 'kernel keyring (see keyctl)',
  request_key: 'kernel keyring (see keyctl)',
};

/** Allowed for every sandbox, grouped by what they are for. */
const GROUPS: Record<string, string[]> = {
  // files and directories
  files: [
    'access', 'faccessat', 'faccessat2', 'chdir', 'fchdir', 'chmod', 'fchmod', 'fchmodat', 'chown', 'fchown', 'fchownat', 'lchown',
    'chown32', 'fchown32', 'lchown32', 'creat', 'open', 'openat', 'openat2', 'close', 'close_range', 'read', 'write', 'readv', 'writev',
    'pread64', 'pwrite64', 'preadv', 'pwritev', 'preadv2', 'pwritev2', 'lseek', '_llseek', 'stat', 'fstat', 'lstat', 'newfstatat',
    'stat64', 'fstat64', 'lstat64', 'fstatat64', 'statx', 'statfs', 'fstatfs', 'statfs64', 'fstatfs64', 'getdents', 'getdents64',
    'mkdir', 'mkdirat', 'rmdir', 'rename', 'renameat', 'renameat2', 'link', 'linkat', 'unlink', 'unlinkat', 'symlink', 'symlinkat',
    'readlink', 'readlinkat', 'truncate', 'ftruncate', 'truncate64', 'ftruncate64', 'fallocate', 'fadvise64', 'fadvise64_64', 'readahead',
    'fsync', 'fdatasync', 'sync', 'syncfs', 'sync_file_range', 'flock', 'fcntl', 'fcntl64', 'dup', 'dup2', 'dup3', 'umask', 'getcwd',
    'utime', 'utimes', 'utimensat', 'utimensat_time64', 'futimesat', 'mknod', 'mknodat', 'copy_file_range', 'sendfile', 'sendfile64',
    'splice', 'tee', 'vmsplice', 'ioctl',
  ],
  // extended attributes (the sandbox's own files only: no capability to touch trusted.* / security.*)
  xattrs: ['getxattr', 'lgetxattr', 'fgetxattr', 'setxattr', 'lsetxattr', 'fsetxattr', 'listxattr', 'llistxattr', 'flistxattr', 'removexattr', 'lremovexattr', 'fremovexattr'],
  // file watching (dev servers, watchers)
  watching: ['inotify_init', 'inotify_init1', 'inotify_add_watch', 'inotify_rm_watch', 'fanotify_mark'],
  // memory
  memory: ['brk', 'mmap', 'mmap2', 'munmap', 'mremap', 'mprotect', 'madvise', 'mincore', 'msync', 'mlock', 'mlock2', 'munlock', 'mlockall', 'munlockall', 'membarrier', 'memfd_create', 'memfd_secret', 'pkey_alloc', 'pkey_free', 'pkey_mprotect'],
  // processes and threads (clone is below, with its namespace flags masked)
  processes: [
    'execve', 'execveat', 'exit', 'exit_group', 'fork', 'vfork', 'wait4', 'waitid', 'waitpid', 'getpid', 'getppid', 'gettid', 'getpgid',
    'setpgid', 'getpgrp', 'getsid', 'setsid', 'set_tid_address', 'set_robust_list', 'get_robust_list', 'rseq', 'prctl', 'arch_prctl',
    'set_thread_area', 'get_thread_area', 'modify_ldt', 'futex', 'futex_time64', 'futex_waitv', 'sched_yield', 'sched_getaffinity',
    'sched_setaffinity', 'sched_getattr', 'sched_setattr', 'sched_getparam', 'sched_setparam', 'sched_getscheduler', 'sched_setscheduler',
    'sched_get_priority_max', 'sched_get_priority_min', 'sched_rr_get_interval', 'sched_rr_get_interval_time64', 'getpriority', 'setpriority',
    'ioprio_get', 'ioprio_set', 'getrlimit', 'setrlimit', 'ugetrlimit', 'prlimit64', 'getrusage', 'times', 'getcpu', 'capget', 'capset',
    'pidfd_open', 'pidfd_send_signal', 'process_mrelease', 'seccomp', 'landlock_create_ruleset', 'landlock_add_rule', 'landlock_restrict_self',
  ],
  // debugging one's own processes (same uid only: the guard runs as root, so it is out of reach)
  debugging: ['ptrace', 'process_vm_readv', 'process_vm_writev'],
  // identity: dropping privileges works; gaining needs capabilities the workload does not have
  identity: [
    'getuid', 'geteuid', 'getgid', 'getegid', 'getuid32', 'geteuid32', 'getgid32', 'getegid32', 'getresuid', 'getresgid', 'getresuid32',
    'getresgid32', 'getgroups', 'getgroups32', 'setuid', 'setgid', 'setuid32', 'setgid32', 'setreuid', 'setregid', 'setreuid32', 'setregid32',
    'setresuid', 'setresgid', 'setresuid32', 'setresgid32', 'setfsuid', 'setfsgid', 'setfsuid32', 'setfsgid32', 'setgroups', 'setgroups32',
  ],
  // signals
  signals: [
    'kill', 'tkill', 'tgkill', 'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'rt_sigpending', 'rt_sigsuspend', 'rt_sigtimedwait',
    'rt_sigtimedwait_time64', 'rt_sigqueueinfo', 'rt_tgsigqueueinfo', 'sigaltstack', 'sigprocmask', 'sigreturn', 'signalfd', 'signalfd4', 'pause',
    'restart_syscall',
  ],
  // time and timers (reading only: setting the clock needs CAP_SYS_TIME)
  time: [
    'time', 'gettimeofday', 'clock_gettime', 'clock_gettime64', 'clock_getres', 'clock_getres_time64', 'clock_nanosleep', 'clock_nanosleep_time64',
    'nanosleep', 'alarm', 'getitimer', 'setitimer', 'timer_create', 'timer_delete', 'timer_getoverrun', 'timer_gettime', 'timer_gettime64',
    'timer_settime', 'timer_settime64', 'timerfd_create', 'timerfd_gettime', 'timerfd_gettime64', 'timerfd_settime', 'timerfd_settime64',
    'adjtimex', 'clock_adjtime', 'clock_adjtime64',
  ],
  // waiting on many descriptors
  polling: [
    'poll', 'ppoll', 'ppoll_time64', 'select', '_newselect', 'pselect6', 'pselect6_time64', 'epoll_create', 'epoll_create1', 'epoll_ctl',
    'epoll_ctl_old', 'epoll_wait', 'epoll_wait_old', 'epoll_pwait', 'epoll_pwait2', 'eventfd', 'eventfd2', 'pipe', 'pipe2',
  ],
  // sockets (socket itself is below, without AF_VSOCK)
  sockets: [
    'bind', 'connect', 'listen', 'accept', 'accept4', 'getsockname', 'getpeername', 'getsockopt', 'setsockopt', 'socketpair', 'shutdown',
    'send', 'sendto', 'sendmsg', 'sendmmsg', 'recv', 'recvfrom', 'recvmsg', 'recvmmsg', 'recvmmsg_time64', 'socketcall',
  ],
  // System V and POSIX IPC (the sandbox has a private IPC namespace)
  ipc: [
    'ipc', 'msgget', 'msgsnd', 'msgrcv', 'msgctl', 'semget', 'semop', 'semtimedop', 'semtimedop_time64', 'semctl', 'shmget', 'shmat', 'shmdt',
    'shmctl', 'mq_open', 'mq_unlink', 'mq_timedsend', 'mq_timedsend_time64', 'mq_timedreceive', 'mq_timedreceive_time64', 'mq_notify', 'mq_getsetattr',
  ],
  // classic asynchronous I/O (not io_uring)
  aio: ['io_setup', 'io_destroy', 'io_submit', 'io_cancel', 'io_getevents', 'io_pgetevents', 'io_pgetevents_time64'],
  // system facts
  system: ['uname', 'sysinfo', 'getrandom'],
};

/** clone flags that make namespaces (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET): refused without CAP_SYS_ADMIN. */
const CLONE_NAMESPACE_FLAGS = 2114060288;
const AF_VSOCK = 40;

interface SeccompRule {
  names: string[];
  action: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO';
  errnoRet?: number;
  args?: Array<{ index: number; value: number; valueTwo?: number; op: string }>;
}

export interface SeccompProfile {
  defaultAction: 'SCMP_ACT_ERRNO';
  defaultErrnoRet: number;
  archMap: Array<{ architecture: string; subArchitectures: string[] }>;
  syscalls: SeccompRule[];
}

/** The profile as the engine takes it (`SecurityOpt: seccomp=<json>`). */
export function wardenSeccompProfile(): SeccompProfile {
  const allowed = Object.values(GROUPS).flat();
  const dup = allowed.find((n, i) => allowed.indexOf(n) !== i);
  if (dup) throw new Error(`seccomp: ${dup} is listed twice`);
  const removed = allowed.find((n) => n in REMOVED);
  if (removed) throw new Error(`seccomp: ${removed} is both allowed and removed`);
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1, // EPERM
    archMap: [
      { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
      { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
    ],
    syscalls: [
      { names: allowed, action: 'SCMP_ACT_ALLOW' },
      // sockets of every family but vsock (a channel to the hypervisor host)
      { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_NE' }] },
      // personality: only the harmless values (Linux, 32-bit Linux, their ADDR_NO_RANDOMIZE-less forms, query)
      ...[0, 8, 131072, 131080, 4294967295].map((value) => ({ names: ['personality'], action: 'SCMP_ACT_ALLOW' as const, args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] })),
      // clone without namespace flags (threads, fork); new namespaces need CAP_SYS_ADMIN, which nobody here has
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
      // clone3 passes its flags in memory, which seccomp cannot read: ENOSYS makes libc fall back to clone
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
    ],
  };
}
