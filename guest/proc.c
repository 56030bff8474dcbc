/* Reading /proc and killing process trees, without forking (this must work at the pids cap). */
#define _GNU_SOURCE
#include <dirent.h>
#include <sys/fsuid.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"

void warnf(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
  /* one write per line, so lines of several processes do not interleave */
  char line[1100];
  int m = snprintf(line, sizeof line, "warden-guard: %.*s\n", n, buf);
  if (m > 0) (void)!write(2, line, (size_t)m);
}

long long parse_num(const char *s) {
  if (!s || !*s) return -1;
  long long v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    v = v * 10 + (*p - '0');
    if (v > (1LL << 52)) return -1;
  }
  return v;
}

/* Read a small /proc file whole (NUL bytes kept); returns length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -1;
  size_t off = 0;
  while (off < cap) {
    ssize_t r = read(fd, buf + off, cap - off);
    if (r < 0) {
      if (errno == EINTR) continue;
      close(fd);
      return -1;
    }
    if (r == 0) break;
    off += (size_t)r;
  }
  close(fd);
  return (ssize_t)off;
}

static int read_stat(pid_t pid, struct proc *p) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  ssize_t n = read_small(path, buf, sizeof buf - 1);
  if (n <= 0) return -1;
  buf[n] = 0;
  /* the command name may hold spaces and parentheses: fields start after the last ')' */
  char *close_paren = strrchr(buf, ')');
  if (!close_paren || close_paren[1] != ' ') return -1;
  char state = close_paren[2];
  long long ppid = strtoll(close_paren + 4, NULL, 10);
  p->pid = pid;
  p->ppid = (pid_t)ppid;
  p->state = state;
  return 0;
}

int proc_list(struct proc **out, size_t *n) {
  DIR *d = opendir("/proc");
  if (!d) return -1;
  size_t cap = 256, len = 0;
  struct proc *v = malloc(cap * sizeof *v);
  if (!v) {
    closedir(d);
    return -1;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    long long pid = parse_num(e->d_name);
    if (pid <= 0) continue;
    struct proc p;
    if (read_stat((pid_t)pid, &p) != 0) continue;
    if (len == cap) {
      cap *= 2;
      struct proc *nv = realloc(v, cap * sizeof *v);
      if (!nv) break;
      v = nv;
    }
    v[len++] = p;
  }
  closedir(d);
  *out = v;
  *n = len;
  return 0;
}

long proc_uid(pid_t pid) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  ssize_t n = read_small(path, buf, sizeof buf - 1);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *u = strstr(buf, "\nUid:");
  if (!u) return -1;
  return strtol(u + 5, NULL, 10);
}

int proc_is_guard(pid_t pid) {
  char path[64], mine[512], theirs[512];
  ssize_t a = readlink("/proc/self/exe", mine, sizeof mine - 1);
  snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
  ssize_t b = readlink(path, theirs, sizeof theirs - 1);
  if (a <= 0 || b <= 0) return 0;
  mine[a] = 0;
  theirs[b] = 0;
  return strcmp(mine, theirs) == 0;
}

int guard_identity(pid_t pid) {
  long uid = proc_uid(pid);
  /* root where the guard is root (Docker); else the guard's own uid (a restricted pod, where the
     workload shares it and could fake a holder: there nothing relies on this for confinement) */
  long want = geteuid() == 0 ? 0 : (long)geteuid();
  return uid == want && proc_is_guard(pid);
}

int proc_is_holder_of(pid_t pid, const char *id) {
  char path[64];
  static char buf[65536];
  snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
  ssize_t n = read_small(path, buf, sizeof buf - 1);
  if (n <= 0) return 0;
  buf[n] = 0;
  /* argv: <guard> hold [options] --id <id> ... -- argv (the exec's holder renames "exec" to "hold") */
  const char *arg = buf, *end = buf + n;
  int idx = 0, kind = 0;
  while (arg < end) {
    if (idx == 1) kind = strcmp(arg, "hold") == 0 ? 2 : strcmp(arg, "exec") == 0 ? 1 : 0;
    if (idx >= 1 && strcmp(arg, "--") == 0) return 0;
    if (kind && strcmp(arg, "--id") == 0) {
      const char *val = arg + strlen(arg) + 1;
      return val < end && strcmp(val, id) == 0 ? kind : 0;
    }
    arg += strlen(arg) + 1;
    idx++;
  }
  return 0;
}

long mark_reader_uid = -1, mark_reader_gid = -1;

int proc_has_mark(pid_t pid, const char *id) {
  char path[64], want[160];
  static char buf[262144];
  snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
  int wl = snprintf(want, sizeof want, "WARDEN_EXEC_ID=%s", id);
  if (wl <= 0 || (size_t)wl >= sizeof want) return 0;
  /*
   * Reading another uid's environ needs ptrace access (CAP_SYS_PTRACE), which the guard does not
   * hold; the kernel checks it with the filesystem uid and gid, so read it as the workload's.
   */
  if (mark_reader_uid >= 0) {
    setfsgid((gid_t)(mark_reader_gid >= 0 ? mark_reader_gid : mark_reader_uid));
    setfsuid((uid_t)mark_reader_uid);
  }
  ssize_t n = read_small(path, buf, sizeof buf - 1);
  if (mark_reader_uid >= 0) {
    setfsuid(0);
    setfsgid(0);
  }
  if (n <= 0) return 0;
  buf[n] = 0;
  for (const char *p = buf; p < buf + n; p += strlen(p) + 1) {
    if (strcmp(p, want) == 0) return 1;
  }
  return 0;
}

static int alive(char state) { return state != 'Z' && state != 'X' && state != 'x'; }

/* Collect the target set into `set` (a 0/1 mark per index of `ps`); returns its size. */
static size_t collect(struct proc *ps, size_t n, pid_t root, const char *mark, char *set) {
  pid_t self = getpid();
  memset(set, 0, n);
  size_t count = 0;
  int grew = 1;
  /* descendants of root: repeat until no new member (parents may be listed after their children) */
  while (grew) {
    grew = 0;
    for (size_t i = 0; i < n; i++) {
      if (set[i] || ps[i].pid == self || ps[i].pid == root || ps[i].pid == 1) continue;
      int in = 0;
      if (root > 0 && ps[i].ppid == root) in = 1;
      for (size_t j = 0; !in && j < n; j++) {
        if (set[j] && ps[j].pid == ps[i].ppid) in = 1;
      }
      if (in) {
        set[i] = 1;
        count++;
        grew = 1;
      }
    }
  }
  if (mark) {
    for (size_t i = 0; i < n; i++) {
      if (set[i] || ps[i].pid == self || ps[i].pid == root || ps[i].pid == 1) continue;
      if (proc_has_mark(ps[i].pid, mark)) {
        set[i] = 1;
        count++;
      }
    }
  }
  return count;
}

int kill_tree(pid_t root, const char *mark, int sig) {
  int freeze = sig != SIGKILL && sig != SIGSTOP && sig != SIGCONT;
  int signalled = 0;
  /* stopped[] remembers whom we froze, to thaw them all at the end */
  pid_t *stopped = NULL;
  size_t nstopped = 0, capstopped = 0;
  for (int round = 0; round < 200; round++) {
    struct proc *ps;
    size_t n;
    if (proc_list(&ps, &n) != 0) break;
    char *set = malloc(n ? n : 1);
    if (!set) {
      free(ps);
      break;
    }
    collect(ps, n, root, mark, set);
    size_t live = 0, fresh = 0;
    for (size_t i = 0; i < n; i++) {
      if (!set[i] || !alive(ps[i].state)) continue;
      live++;
      int known = 0;
      for (size_t k = 0; k < nstopped && !known; k++) known = stopped[k] == ps[i].pid;
      if (known) continue;
      fresh++;
      /* freeze first: a stopped process cannot fork, exit early or react to its children's death */
      kill(ps[i].pid, SIGSTOP);
      if (nstopped == capstopped) {
        capstopped = capstopped ? capstopped * 2 : 64;
        pid_t *nv = realloc(stopped, capstopped * sizeof *nv);
        if (!nv) break;
        stopped = nv;
      }
      stopped[nstopped++] = ps[i].pid;
    }
    free(set);
    free(ps);
    if (sig == SIGKILL) {
      for (size_t k = 0; k < nstopped; k++) kill(stopped[k], SIGKILL);
      signalled = (int)nstopped;
      if (live == 0) break;
      /* the killed may take a moment to become zombies; look again */
      struct timespec ts = {0, 2 * 1000 * 1000};
      nanosleep(&ts, NULL);
      continue;
    }
    if (fresh == 0) break; /* the frozen set is stable: nobody new appeared */
  }
  if (sig != SIGKILL) {
    for (size_t k = 0; k < nstopped; k++) {
      if (kill(stopped[k], sig) == 0) signalled++;
    }
    if (freeze) {
      for (size_t k = 0; k < nstopped; k++) kill(stopped[k], SIGCONT);
    }
  }
  free(stopped);
  return signalled;
}

static const struct {
  const char *name;
  int sig;
} SIGNALS[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL}, {"USR1", SIGUSR1},
    {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"STOP", SIGSTOP}, {"CONT", SIGCONT}, {"ALRM", SIGALRM},
    {"WINCH", SIGWINCH}, {"TSTP", SIGTSTP}, {"PIPE", SIGPIPE},
};

int signal_by_name(const char *name) {
  if (!name) return -1;
  if (strncmp(name, "SIG", 3) == 0) name += 3;
  long long n = parse_num(name);
  if (n > 0 && n < 65) return (int)n;
  for (size_t i = 0; i < sizeof SIGNALS / sizeof SIGNALS[0]; i++) {
    if (strcmp(SIGNALS[i].name, name) == 0) return SIGNALS[i].sig;
  }
  return -1;
}
