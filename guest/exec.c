/*
 * `warden-guard exec --uid U --gid G [--cwd DIR] [--timeout-ms N] [--id ID] [--tty] -- argv...`
 *
 * Every workload command starts here, as root (the exec's user is 0 with Warden's few capabilities).
 * This process (the engine's exec) forks the holder and exits with the command's exit code (128+N for
 * a signal), so the exec ends when the command does. The holder makes itself a child subreaper, so
 * every process the command starts, in any session and whatever it does to its environment, stays in
 * the holder's subtree while it lives (orphans are re-parented to it, not to PID 1). It forks the
 * command, which starts a new session (and takes the pty as its controlling terminal with --tty), drops
 * to U:G (supplementary groups: G only) and execs argv; under no-new-privileges and with an empty
 * inheritable/ambient set, the command has no capabilities left after execve. The holder stays as long
 * as anything of the command lives: with --timeout-ms it kills the whole subtree at the deadline
 * (frozen, then SIGKILLed until nothing is left), also what the command left running after it exited,
 * with no fork needed, so it holds at the pids cap and with Warden gone; without a deadline, background
 * children (a dev server) live on under it and `kill --id` still reaches all of them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Exit codes of the guard itself, as shells use them. */
enum { EXIT_USAGE = 125, EXIT_CANNOT_RUN = 126, EXIT_NOT_FOUND = 127, EXIT_TIMEOUT = 137 };

static void child(uid_t uid, gid_t gid, const char *cwd, int tty, char **argv, sigset_t *oldmask) {
  sigprocmask(SIG_SETMASK, oldmask, NULL);
  signal(SIGHUP, SIG_DFL);
  if (setsid() < 0) {
    warnf("exec: setsid: %s", strerror(errno));
    _exit(EXIT_CANNOT_RUN);
  }
  if (tty && ioctl(0, TIOCSCTTY, 0) < 0) warnf("exec: cannot take the terminal: %s", strerror(errno));
  if (geteuid() != 0) {
    /*
     * Not root: the guard already runs as the workload (a Kubernetes pod under the "restricted"
     * profile has one non-root uid and no capabilities). Nothing to drop, and nothing can be changed:
     * the command must be asked for as that very uid and gid.
     */
    if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid) {
      warnf("exec: cannot switch to %u:%u: the guard runs as %u:%u without privileges", (unsigned)uid, (unsigned)gid, (unsigned)geteuid(),
            (unsigned)getegid());
      _exit(EXIT_CANNOT_RUN);
    }
  } else {
    gid_t groups[1] = {gid};
    if (setgroups(1, groups) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
      warnf("exec: cannot switch to %u:%u: %s", (unsigned)uid, (unsigned)gid, strerror(errno));
      _exit(EXIT_CANNOT_RUN);
    }
  }
  if (uid != 0 && (setuid(0) == 0 || geteuid() == 0)) {
    warnf("exec: still root after dropping privileges");
    _exit(EXIT_CANNOT_RUN);
  }
  if (cwd && chdir(cwd) != 0) {
    warnf("exec: cannot change to %s: %s", cwd, strerror(errno));
    _exit(EXIT_CANNOT_RUN);
  }
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  execvp(argv[0], argv);
  int e = errno;
  /* as a shell and docker answer: the reason on stderr, 127 for a missing command, 126 otherwise */
  const char *why = e == ENOENT ? "command not found" : e == EACCES ? "permission denied" : strerror(e);
  fprintf(stderr, "warden: %s: %s\n", argv[0], why);
  _exit(e == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN);
}

/*
 * The holder (forked by the exec's own process): child subreaper, parent of the command, holder of
 * everything it starts for as long as any of it lives. Reports the command's exit code through `report`
 * (the exec's own process exits with it, so the engine's exec ends when the command does), then keeps
 * holding what the command left behind: with a deadline it kills all of it at the deadline; without one
 * it lingers, so `kill` still finds background processes that left their session and wiped their
 * environment. Exits when nothing of the command is left.
 */
static int holder(uid_t uid, gid_t gid, const char *cwd, int tty, const char *id, long long timeout_ms, char **cmd, int report,
                  char *modearg, sigset_t *set, sigset_t *old, int stop_seen) {
  /* our command line now reads `warden-guard hold ... --id ID`: `kill` targets this process's subtree */
  if (modearg && strlen(modearg) == 4) memcpy(modearg, "hold", 4);
  /*
   * gVisor (runsc) does not implement child subreapers (EINVAL): there the tree is what the kernel's
   * parent links and the exec's mark still tie to us, and a child that both leaves with setsid and
   * wipes its environment escapes this exec's deadline (not stop, kill or max runtime).
   */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 && errno != EINVAL) {
    warnf("exec: cannot become a subreaper: %s", strerror(errno));
    return EXIT_CANNOT_RUN;
  }
  /* the signals below were blocked before we were forked: a stop's SIGTERM to everyone never ends us */
  int sfd = signalfd(-1, set, SFD_CLOEXEC);
  if (sfd < 0) {
    warnf("exec: signalfd: %s", strerror(errno));
    return EXIT_CANNOT_RUN;
  }
  /*
   * A graceful stop sends SIGTERM to every process once, atomically. If it came before the command
   * existed (it is pending here, blocked), the command missed it: it gets it right after its start.
   */
  sigset_t pending;
  if (sigpending(&pending) == 0 && sigismember(&pending, SIGTERM)) stop_seen = 1;
  pid_t pid = fork();
  if (pid < 0) {
    warnf("exec: cannot start the command: %s (pids cap reached?)", strerror(errno));
    return EXIT_CANNOT_RUN;
  }
  if (pid > 0 && stop_seen) kill(pid, SIGTERM);
  if (pid == 0) {
    close(sfd);
    close(report);
    child(uid, gid, cwd, tty, cmd, old);
  }
  /* the exec's streams belong to the command: holding them would keep the engine's exec open */
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2) close(null);
  }
  long long deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
  int reported = 0;
  for (;;) {
    int status;
    pid_t w;
    while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
      if (w == pid && !reported) {
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        (void)!write(report, &code, sizeof code);
        close(report);
        reported = 1;
      }
    }
    if (w < 0 && errno == ECHILD) return 0; /* nothing of the command is left */
    long long wait = deadline >= 0 ? deadline - now_ms() : -1;
    if (deadline >= 0 && wait <= 0) {
      mark_reader_uid = uid;
      mark_reader_gid = gid;
      kill_tree(getpid(), id, SIGKILL);
      /* every descendant is dead: collect them (the command included) and report the timeout */
      while (waitpid(-1, NULL, WNOHANG) > 0) {
      }
      if (!reported) {
        int code = EXIT_TIMEOUT;
        (void)!write(report, &code, sizeof code);
      }
      return 0;
    }
    struct pollfd p = {sfd, POLLIN, 0};
    if (poll(&p, 1, wait < 0 ? -1 : (int)(wait > 60000 ? 60000 : wait)) > 0) {
      struct signalfd_siginfo si;
      (void)!read(sfd, &si, sizeof si);
    }
  }
}

int mode_exec(int argc, char **argv) {
  long long uid = -1, gid = -1, timeout_ms = -1;
  const char *cwd = NULL, *id = NULL;
  int tty = 0, i = 0;
  for (; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (strcmp(a, "--uid") == 0 && v) uid = parse_num(v), i++;
    else if (strcmp(a, "--gid") == 0 && v) gid = parse_num(v), i++;
    else if (strcmp(a, "--cwd") == 0 && v) cwd = v, i++;
    else if (strcmp(a, "--timeout-ms") == 0 && v) timeout_ms = parse_num(v), i++;
    else if (strcmp(a, "--id") == 0 && v) id = v, i++; /* `kill` finds the holder by it, in its command line */
    else if (strcmp(a, "--tty") == 0) tty = 1;
    else {
      warnf("exec: unknown argument '%s'", a);
      return EXIT_USAGE;
    }
  }
  if (uid < 0 || gid < 0 || i >= argc) {
    warnf("exec: usage: exec --uid U --gid G [--cwd DIR] [--timeout-ms N] [--id ID] [--tty] -- argv...");
    return EXIT_USAGE;
  }
  char **cmd = argv + i;
  struct rlimit core = {0, 0};
  setrlimit(RLIMIT_CORE, &core);
  /*
   * Nobody but root can signal us; what a stop sends everyone must not end us or the holder (it would
   * lose the command's exit code), so these are blocked before the holder is forked (it inherits the
   * mask; the command gets the original one back). Blocked, not ignored: an ignored disposition would
   * survive into the command's execve.
   */
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGQUIT);
  sigprocmask(SIG_BLOCK, &set, &old);
  if (tty) {
    /* we lead the exec's session: give up the pty so the command's new session can take it (the
       SIGHUP this sends our process group stays pending, blocked, and is not inherited by a fork) */
    if (ioctl(0, TIOCNOTTY) != 0 && errno != ENOTTY) warnf("exec: cannot release the terminal: %s", strerror(errno));
  }
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) != 0) {
    warnf("exec: pipe: %s", strerror(errno));
    return EXIT_CANNOT_RUN;
  }
  /* a stop that reached us before the holder exists is passed on (pending signals are not inherited) */
  sigset_t pending;
  int stop_seen = sigpending(&pending) == 0 && sigismember(&pending, SIGTERM);
  pid_t h = fork();
  if (h < 0) {
    warnf("exec: cannot start the command: %s (pids cap reached?)", strerror(errno));
    return EXIT_CANNOT_RUN;
  }
  if (h == 0) {
    close(pfd[0]);
    _exit(holder((uid_t)uid, (gid_t)gid, cwd, tty, id, timeout_ms, cmd, pfd[1], argv[-1], &set, &old, stop_seen));
  }
  close(pfd[1]);
  /* wait for the command's exit code; the holder lives on for what the command left behind */
  int code;
  ssize_t r;
  do r = read(pfd[0], &code, sizeof code);
  while (r < 0 && errno == EINTR);
  if (r != (ssize_t)sizeof code) {
    warnf("exec: the holder ended without the command's exit code");
    return EXIT_CANNOT_RUN;
  }
  return code;
}

/*
 * `warden-guard kill --id ID [--signal SIG] [--uid U --gid G]`: signal the tree of the exec holder
 * with that id, and processes of U:G that still carry the exec's mark after their holder ended.
 */
int mode_kill(int argc, char **argv) {
  const char *id = NULL, *signame = "TERM";
  for (int i = 0; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--id") == 0) id = argv[i + 1];
    else if (strcmp(argv[i], "--signal") == 0) signame = argv[i + 1];
    else if (strcmp(argv[i], "--uid") == 0) mark_reader_uid = parse_num(argv[i + 1]);
    else if (strcmp(argv[i], "--gid") == 0) mark_reader_gid = parse_num(argv[i + 1]);
  }
  int sig = signal_by_name(signame);
  if (!id || !*id || sig < 0) {
    warnf("kill: usage: kill --id ID [--signal SIG]");
    return EXIT_USAGE;
  }
  pid_t holder = 0;
  /*
   * An exec that has just started may not have its holder yet (the exec's process forks it, and it
   * renames itself "hold"): wait for it briefly rather than miss a command that is about to run.
   */
  for (int round = 0; round < 400 && !holder; round++) {
    struct proc *ps;
    size_t n;
    if (proc_list(&ps, &n) != 0) return 1;
    int starting = 0;
    for (size_t i = 0; i < n && !holder; i++) {
      int kind = proc_is_holder_of(ps[i].pid, id);
      /* only a process of the guard's identity running this binary can be a holder: where the guard
         is root, the workload cannot fake one (where it is not, see guard_identity) */
      if (!kind || !guard_identity(ps[i].pid)) continue;
      if (kind == 2) holder = ps[i].pid;
      else starting = 1;
    }
    free(ps);
    if (holder || !starting) break;
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  /* with the holder gone (the command ended), processes that kept the exec's mark are still found */
  int count = kill_tree(holder ? holder : -1, id, sig);
  printf("%d\n", count);
  return 0;
}

/*
 * `warden-guard signal --signal SIG [--init]`: every process of the workload (all but PID 1, this
 * process and the guard's own processes) gets SIG. Prints how many. With --init, only PID 1 (the
 * guard's init) gets it: a graceful stop from inside, where no engine can signal PID 1 (ACI).
 */
int mode_signal(int argc, char **argv) {
  const char *signame = "TERM";
  int to_init = 0;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--signal") == 0 && i + 1 < argc) signame = argv[++i];
    else if (strcmp(argv[i], "--init") == 0) to_init = 1;
    else {
      warnf("signal: usage: signal --signal SIG [--init]");
      return EXIT_USAGE;
    }
  }
  int sig = signal_by_name(signame);
  if (sig < 0) {
    warnf("signal: unknown signal '%s'", signame);
    return EXIT_USAGE;
  }
  if (to_init) {
    int ok = kill(1, sig) == 0;
    printf("%d\n", ok);
    return ok ? 0 : 1;
  }
  struct proc *ps;
  size_t n;
  if (proc_list(&ps, &n) != 0) return 1;
  int count = 0;
  pid_t self = getpid();
  for (size_t i = 0; i < n; i++) {
    pid_t p = ps[i].pid;
    if (p == 1 || p == self || ps[i].state == 'Z') continue;
    if (guard_identity(p)) continue;
    if (kill(p, sig) == 0) count++;
  }
  free(ps);
  printf("%d\n", count);
  return 0;
}
