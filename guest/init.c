/*
 * `warden-guard init`: PID 1 of every sandbox, running as root with only the capabilities Warden adds
 * back (KILL, SETUID, SETGID, DAC_READ_SEARCH). The workload runs as another uid with none, so it can
 * neither signal, stop nor trace this process. It:
 *  - reaps every orphan (the kernel re-parents them here);
 *  - ends the sandbox at --max-runtime (returning from PID 1 kills the whole PID namespace);
 *  - with --tied, holds the container's stdin, which the owning Warden process keeps attached: EOF
 *    means the owner died (even by kill -9), and the sandbox ends (the dead-man switch); with
 *    --link-timeout S it also ends when nothing arrived on stdin within S seconds of its start (an
 *    owner that died before it attached: Kubernetes' attach comes after the start, Docker's before);
 *  - with --tie PATH (Azure Container Instances, where nothing can be attached to PID 1's stdin),
 *    makes a FIFO at PATH in a directory only root may use, and ends the sandbox when no owner tie
 *    (`warden-guard tie`, held open by the owner's framed exec) has held it for --tie-grace seconds:
 *    before the first tie, and after the last one closed. A 'u' from a tie unties the sandbox for good;
 *  - with --disk-quota, measures --workspace every --disk-interval seconds from a thread made at
 *    start (no fork needed at the pids cap; DAC_READ_SEARCH sees into directories the workload hid
 *    with chmod) and ends the sandbox when it holds more;
 *  - on SIGTERM (a graceful stop), sends SIGTERM to every other process and ends once none is left;
 *    the engine's stop timeout SIGKILLs it after the grace.
 * The reason it ends is written to the container log as one line "warden: stopped: ...".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"

static void say_stopped(const char *fmt, long long a, long long b) {
  char line[256];
  int n = snprintf(line, sizeof line, "warden: stopped: ");
  n += snprintf(line + n, sizeof line - (size_t)n, fmt, a, b);
  if (n > 0 && (size_t)n < sizeof line - 1) line[n++] = '\n';
  (void)!write(1, line, (size_t)n);
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- disk quota: a thread that walks the workspace like du -sx ---- */

static const char *disk_root;
static long long disk_quota_kib, disk_interval_s;

static void *disk_watch(void *arg) {
  (void)arg;
  long long pause_ms = disk_interval_s * 1000;
  for (;;) {
    struct timespec ts = {(time_t)(pause_ms / 1000), (long)(pause_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    long long kib, t0 = now_ms();
    int r = disk_usage_kib(disk_root, &kib);
    /* a big tree (a monorepo's node_modules) takes a while to walk: never spend more than ~1/10 of a
       core on it (the walk is charged to the sandbox's own CPU cap) */
    long long took = now_ms() - t0;
    pause_ms = took * 10 > disk_interval_s * 1000 ? took * 10 : disk_interval_s * 1000;
    if (r != 0) {
      /* fail closed: a workspace that cannot be measured could hold anything */
      say_stopped(r == -2 ? "the workspace is nested deeper than %lld directories and cannot be measured for its disk quota%.0lld"
                          : "the workspace could not be measured for its disk quota (out of descriptors or memory)%.0lld%.0lld",
                  r == -2 ? (long long)DISK_MAX_DEPTH : 0LL, 0LL);
      _exit(137);
    }
    if (kib > disk_quota_kib) {
      say_stopped("the workspace holds %lld KiB, over its disk quota of %lld KiB", kib, disk_quota_kib);
      _exit(137); /* ends PID 1, and with it every process of the sandbox */
    }
  }
  return NULL;
}

/* ---- PID 1 ---- */

static int others_alive(void) {
  struct proc *ps;
  size_t n;
  if (proc_list(&ps, &n) != 0) return 1;
  int left = 0;
  for (size_t i = 0; i < n; i++) {
    if (ps[i].pid != 1 && ps[i].state != 'Z' && ps[i].state != 'X') left++;
  }
  free(ps);
  return left;
}

/* ---- the owner tie (--tie): a FIFO only root can open ---- */

static const char *tie_path;
static int tie_fd = -1;

static int tie_open(void) {
  tie_fd = open(tie_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  return tie_fd >= 0 ? 0 : -1;
}

/* mkdir the FIFO's directory for root alone (refusing anything planted there), then the FIFO. */
static int tie_make(void) {
  char dir[4096];
  if (strlen(tie_path) >= sizeof dir || tie_path[0] != '/') return -1;
  strcpy(dir, tie_path);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir) return -1;
  *slash = 0;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) return -1;
  struct stat st;
  if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) return -1;
  if (chmod(dir, 0700) != 0) return -1;
  unlink(tie_path);
  if (mkfifo(tie_path, 0600) != 0) return -1;
  return tie_open();
}

static void tie_drop(void) {
  if (tie_fd >= 0) close(tie_fd);
  tie_fd = -1;
}

static void reap_all(void) {
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int mode_init(int argc, char **argv) {
  long long max_runtime_s = -1, link_timeout_s = -1, tie_grace_s = 30;
  int tied = 0;
  disk_root = "/workspace";
  disk_interval_s = 2;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--max-runtime") == 0 && v) max_runtime_s = parse_num(v), i++;
    else if (strcmp(a, "--tied") == 0) tied = 1;
    else if (strcmp(a, "--link-timeout") == 0 && v) link_timeout_s = parse_num(v), i++;
    else if (strcmp(a, "--tie") == 0 && v) tie_path = v, i++;
    else if (strcmp(a, "--tie-grace") == 0 && v) tie_grace_s = parse_num(v), i++;
    else if (strcmp(a, "--disk-quota") == 0 && v) disk_quota_kib = parse_num(v), i++;
    else if (strcmp(a, "--disk-interval") == 0 && v) disk_interval_s = parse_num(v), i++;
    else if (strcmp(a, "--workspace") == 0 && v) disk_root = v, i++;
    else {
      warnf("init: unknown argument '%s'", a);
      return 2;
    }
  }
  if (getpid() != 1) warnf("init: not PID 1 (pid %d): orphans are not reaped here", (int)getpid());
  struct rlimit core = {0, 0};
  setrlimit(RLIMIT_CORE, &core);

  /* every signal we act on arrives through a signalfd; everything else is ignored (PID 1 gets no default actions anyway) */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  if (sfd < 0) {
    warnf("init: signalfd: %s", strerror(errno));
    return 1;
  }

  if (disk_quota_kib > 0) {
    if (disk_interval_s <= 0) disk_interval_s = 2;
    pthread_t t;
    /* made now, while the sandbox is empty: it never needs a new task later, even at the pids cap */
    if (pthread_create(&t, NULL, disk_watch, NULL) != 0) {
      warnf("init: cannot start the disk watcher");
      return 1;
    }
  }

  /* stdin: the owner link when tied; otherwise it is /dev/null and not watched */
  int in_fd = tied ? 0 : -1;
  /* the owner tie: waiting for the first one from now on */
  long long tie_deadline = -1;
  if (tie_path) {
    if (tie_grace_s <= 0) tie_grace_s = 30;
    if (tie_make() != 0) {
      warnf("init: cannot make the owner tie %s: %s", tie_path, strerror(errno));
      return 1;
    }
    tie_deadline = now_ms() + tie_grace_s * 1000;
  }
  long long deadline = max_runtime_s >= 0 ? now_ms() + max_runtime_s * 1000 : -1;
  /* until the owner's first byte arrives: it must attach within link_timeout_s */
  long long link_deadline = tied && link_timeout_s >= 0 ? now_ms() + link_timeout_s * 1000 : -1;
  long long drain_check = -1;
  char buf[4096];
  for (;;) {
    long long now = now_ms();
    if (deadline >= 0 && now >= deadline) {
      say_stopped("reached its maxRuntime of %lld s%.0lld", max_runtime_s, 0LL);
      return 0;
    }
    if (link_deadline >= 0 && now >= link_deadline) {
      say_stopped("its owner never attached (nothing within %lld s)%.0lld", link_timeout_s, 0LL);
      return 137;
    }
    if (tie_deadline >= 0 && now >= tie_deadline && drain_check < 0) {
      say_stopped("its owner process is gone (no owner tie for %lld s)%.0lld", tie_grace_s, 0LL);
      return 137;
    }
    long long wait = -1;
    if (deadline >= 0) wait = deadline - now;
    if (link_deadline >= 0 && (wait < 0 || wait > link_deadline - now)) wait = link_deadline - now;
    if (tie_deadline >= 0 && (wait < 0 || tie_deadline - now < wait)) wait = tie_deadline - now;
    if (drain_check >= 0 && (wait < 0 || wait > 100)) wait = 100;
    if (wait < 0 && wait != -1) wait = 0;
    struct pollfd fds[3] = {{sfd, POLLIN, 0}, {in_fd, POLLIN, 0}, {tie_fd, POLLIN, 0}};
    int r = poll(fds, 3, wait < 0 ? -1 : (int)(wait > 60000 ? 60000 : wait));
    if (r < 0 && errno != EINTR) {
      warnf("init: poll: %s", strerror(errno));
      return 1;
    }
    if (in_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = read(in_fd, buf, sizeof buf);
      if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) {
        say_stopped("its owner process is gone (the owner link closed)%.0lld%.0lld", 0LL, 0LL);
        return 137;
      }
      if (got > 0) link_deadline = -1;
    }
    if (tie_fd >= 0 && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      for (;;) {
        ssize_t got = read(tie_fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) break; /* EAGAIN: a tie is open and said nothing more */
        if (got == 0) {
          /* the last tie closed: start over with a fresh read end (no POLLHUP until the next tie
           * has come and gone), and give the owner the grace to tie again */
          tie_drop();
          if (tie_open() != 0) {
            say_stopped("its owner tie cannot be reopened%.0lld%.0lld", 0LL, 0LL);
            return 137;
          }
          tie_deadline = now_ms() + tie_grace_s * 1000;
          break;
        }
        for (ssize_t i = 0; i < got; i++) {
          if (buf[i] == 't') tie_deadline = -1;
          if (buf[i] == 'u') {
            /* released: this sandbox no longer ends with its owner */
            tie_drop();
            unlink(tie_path);
            tie_deadline = -1;
            break;
          }
        }
        if (tie_fd < 0) break;
      }
    }
    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGTERM && drain_check < 0) {
          /* graceful stop: every other process gets SIGTERM (root with CAP_KILL reaches them all);
           * the owner ties end with them, which must not end the drain early */
          tie_drop();
          tie_deadline = -1;
          kill(-1, SIGTERM);
          drain_check = now_ms();
        }
        if (si.ssi_signo == SIGCHLD) reap_all();
        /* one read per wakeup is enough: the fd is blocking, so do not loop on it */
        break;
      }
    }
    reap_all();
    if (drain_check >= 0 && !others_alive()) {
      say_stopped("stopped gracefully (every process ended after SIGTERM)%.0lld%.0lld", 0LL, 0LL);
      return 0;
    }
  }
}
