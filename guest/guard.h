/*
 * warden-guard: the code Warden runs inside every sandbox (and the per-owner reaper beside them).
 * One static binary, several modes (see main.c). It never links NSS, never reads configuration
 * the workload can write, and never forks on a path that must work at the pids cap.
 */
#ifndef WARDEN_GUARD_H
#define WARDEN_GUARD_H

#include <stddef.h>
#include <sys/types.h>

/* Where the guest volume is mounted in every sandbox (read-only). */
#define GUARD_DIR "/.warden"
#define GUARD_PATH GUARD_DIR "/warden-guard"

/* One process as read from /proc/<pid>/stat. */
struct proc {
  pid_t pid;
  pid_t ppid;
  char state; /* R S D Z T t X ... */
};

/* Every process in this PID namespace (malloc'd array, *n entries). Returns 0 or -1. */
int proc_list(struct proc **out, size_t *n);
/* The real uid of a process, or -1. */
long proc_uid(pid_t pid);
/* 1 when the process runs this very binary (its /proc/<pid>/exe is ours). */
int proc_is_guard(pid_t pid);
/*
 * 1 when the process runs this binary with the guard's identity: root where the guard runs as root,
 * else the guard's own uid (a pod whose only identity is the workload's).
 */
int guard_identity(pid_t pid);
/*
 * 2 when /proc/<pid>/cmdline is GUARD hold ... --id <id> ... (an exec's holder), 1 when it is still
 * GUARD exec ... --id <id> (the exec's own process, or its holder before it renamed itself), else 0.
 */
int proc_is_holder_of(pid_t pid, const char *id);
/* 1 when /proc/<pid>/environ holds WARDEN_EXEC_ID=<id>. */
int proc_has_mark(pid_t pid, const char *id);

/*
 * Signal every live descendant of `root` (not root itself), plus, when `mark` is set, every process
 * whose environment carries WARDEN_EXEC_ID=<mark>. The set is frozen first (SIGSTOP, repeated until no
 * new process appears), then signalled, then thawed, so no parent sees a child die and reacts before
 * its own signal lands. With SIGKILL it repeats until nothing of the set is left alive.
 * Needs no fork. Returns how many processes were signalled.
 */
int kill_tree(pid_t root, const char *mark, int sig);
/* The uid whose processes' environments the mark scan reads (-1: as we are). */
extern long mark_reader_uid, mark_reader_gid;

/* A signal by name (TERM, SIGTERM, 15); -1 when unknown. */
int signal_by_name(const char *name);

int mode_init(int argc, char **argv);
int mode_exec(int argc, char **argv);
int mode_kill(int argc, char **argv);
int mode_signal(int argc, char **argv);
int mode_reap(int argc, char **argv);
int mode_env(int argc, char **argv);
int mode_install(int argc, char **argv);
int mode_netgate(int argc, char **argv);
/* aci-exec.c: the framed exec over ACI's terminal (argv[0] ends in "warden-aci-exec"; argc/argv as main's) */
int mode_aci_exec(int argc, char **argv);
/* tie.c: holds the owner tie of an ACI sandbox (see init.c, --tie) */
int mode_tie(int argc, char **argv);
/* 0 when path is a FIFO of root's in a directory only root may write (tie.c) */
int tie_path_safe(const char *path);
int mode_du(int argc, char **argv);

/* Deeper than this the workspace cannot be measured, and the sandbox ends (fails closed). */
#define DISK_MAX_DEPTH 4096
/*
 * Bytes under `root` (KiB, like `du -sx`, links not followed, hard links counted once), walked without
 * recursion. 0 on success; -2 when nested deeper than DISK_MAX_DEPTH; -1 when it cannot be measured.
 */
int disk_usage_kib(const char *root, long long *kib);

/* Print to stderr with a "warden-guard: " prefix. */
void warnf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Parse a non-negative decimal; -1 on error. */
long long parse_num(const char *s);

#endif
