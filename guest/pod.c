/*
 * Modes for backends whose exec API is narrower than Docker's, or whose pods cannot mount the guest
 * image (Kubernetes):
 *
 *   env [--stdin-env] [--tty] [--cwd DIR] [--detach] -- argv...
 *       Start argv with extra environment and a working directory. Kubernetes' exec carries neither,
 *       and an exec's argv travels in the request URL (API server logs, audit logs): environment
 *       values, secrets among them, must not. With --stdin-env they come first on stdin as
 *       "<length>\n" followed by that many bytes of NUL-terminated K=V entries, read exactly (the rest
 *       of stdin is the command's). With --tty, stdin is a terminal: it is put in raw mode without
 *       echo, ENV_MARKER is written to stdout ("send the environment now": nothing was echoed before
 *       it), and the terminal's settings come back before argv starts. With --detach the command gets
 *       /dev/null for stdin, stdout and stderr, after READY_MARKER on stdout says the environment was
 *       read (the caller may then drop the connection).
 *
 *   install DIR
 *       Copy the guest files (this binary and the regular files beside it) into DIR: an init container
 *       of the guest image fills the volume every container of the pod mounts read-only at /.warden.
 *
 *   netgate --deny IP:PORT [--allow IP:PORT] [--within SECONDS]
 *       Return once a TCP connection to the --deny address fails (and one to --allow succeeds): the
 *       pod's network policy is enforced for this very pod. Run as an init container, so the workload
 *       never runs before its confinement does; fails (exit 3) when that does not happen in time, e.g.
 *       on a cluster whose network plugin ignores NetworkPolicy.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"

#define ENV_MARKER "\033]5379;warden-env\007"
#define READY_MARKER "\033]5379;warden-ready\007"
/* execve's own limit on the environment is far below this */
#define MAX_ENV_BYTES (4 * 1024 * 1024)

enum { EXIT_USAGE = 125, EXIT_CANNOT_RUN = 126, EXIT_NOT_FOUND = 127 };

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Exactly n bytes (never more: what follows on stdin belongs to the command). */
static int read_exact(int fd, char *p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static int read_env(int fd) {
  char head[16];
  size_t len = 0;
  for (;;) {
    char c;
    if (read_exact(fd, &c, 1) != 0) {
      warnf("env: stdin ended before the environment");
      return -1;
    }
    if (c == '\n') break;
    if (c < '0' || c > '9' || len >= sizeof head - 1) {
      warnf("env: malformed environment header");
      return -1;
    }
    head[len++] = c;
  }
  head[len] = 0;
  long long size = parse_num(head);
  if (size < 0 || size > MAX_ENV_BYTES) {
    warnf("env: environment of %s bytes refused", head);
    return -1;
  }
  char *buf = malloc((size_t)size + 1);
  if (!buf) return -1;
  if (read_exact(fd, buf, (size_t)size) != 0) {
    warnf("env: stdin ended inside the environment");
    free(buf);
    return -1;
  }
  buf[size] = 0;
  /* entries stay in buf: putenv keeps the pointers (the process execs right after) */
  for (char *p = buf; p < buf + size; p += strlen(p) + 1) {
    char *eq = strchr(p, '=');
    if (!eq || eq == p) {
      warnf("env: entry without a name");
      return -1;
    }
    if (putenv(p) != 0) return -1;
  }
  return 0;
}

int mode_env(int argc, char **argv) {
  int stdin_env = 0, tty = 0, detach = 0, i = 0;
  const char *cwd = NULL;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (strcmp(a, "--stdin-env") == 0) stdin_env = 1;
    else if (strcmp(a, "--tty") == 0) tty = 1;
    else if (strcmp(a, "--detach") == 0) detach = 1;
    else if (strcmp(a, "--cwd") == 0 && i + 1 < argc) cwd = argv[++i];
    else {
      warnf("env: unknown argument '%s'", a);
      return EXIT_USAGE;
    }
  }
  if (i >= argc) {
    warnf("env: usage: env [--stdin-env] [--tty] [--cwd DIR] [--detach] -- argv...");
    return EXIT_USAGE;
  }
  if (stdin_env) {
    struct termios saved;
    int raw = tty && tcgetattr(0, &saved) == 0;
    if (raw) {
      struct termios t = saved;
      cfmakeraw(&t);
      if (tcsetattr(0, TCSANOW, &t) != 0) raw = 0;
    }
    if (tty && write_all(1, ENV_MARKER, sizeof ENV_MARKER - 1) != 0) return EXIT_CANNOT_RUN;
    int ok = read_env(0);
    if (raw) tcsetattr(0, TCSANOW, &saved);
    if (ok != 0) return EXIT_USAGE;
  }
  if (cwd && chdir(cwd) != 0) {
    warnf("env: cannot change to %s: %s", cwd, strerror(errno));
    return EXIT_CANNOT_RUN;
  }
  if (detach) {
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0) return EXIT_CANNOT_RUN;
    dup2(null, 0);
    if (write_all(1, READY_MARKER, sizeof READY_MARKER - 1) != 0) return EXIT_CANNOT_RUN;
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2) close(null);
  }
  char **cmd = argv + i;
  execvp(cmd[0], cmd);
  int e = errno;
  fprintf(stderr, "warden: %s: %s\n", cmd[0], e == ENOENT ? "command not found" : e == EACCES ? "permission denied" : strerror(e));
  return e == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;
}

/* ---- install ---- */

static int copy_file(int src_dir, int dst_dir, const char *name) {
  int in = openat(src_dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (in < 0) return errno == ELOOP ? 0 : -1; /* a link (warden-aci-exec): only regular files are guest files */
  struct stat st;
  if (fstat(in, &st) != 0) {
    close(in);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) { /* only regular files are guest files */
    close(in);
    return 0;
  }
  int out = openat(dst_dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, st.st_mode & 0755);
  if (out < 0) {
    close(in);
    return -1;
  }
  char buf[65536];
  ssize_t r;
  int rc = 0;
  while ((r = read(in, buf, sizeof buf)) != 0) {
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || write_all(out, buf, (size_t)r) != 0) {
      rc = -1;
      break;
    }
  }
  if (fchmod(out, st.st_mode & 0755) != 0) rc = -1;
  close(in);
  if (close(out) != 0) rc = -1;
  return rc;
}

int mode_install(int argc, char **argv) {
  if (argc != 1) {
    warnf("install: usage: install DIR");
    return EXIT_USAGE;
  }
  /* the directory this binary lives in (/.warden in the guest image) */
  char self[512];
  ssize_t n_self = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n_self <= 0) return 1;
  self[n_self] = 0;
  char *slash = strrchr(self, '/');
  if (!slash) return 1;
  *slash = 0;
  const char *from = self[0] ? self : "/";
  int src = open(from, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int dst = open(argv[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (src < 0 || dst < 0) {
    warnf("install: cannot open %s or %s: %s", from, argv[0], strerror(errno));
    return 1;
  }
  DIR *d = fdopendir(dup(src));
  if (!d) return 1;
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    if (copy_file(src, dst, e->d_name) != 0) {
      warnf("install: cannot copy %s: %s", e->d_name, strerror(errno));
      return 1;
    }
    n++;
  }
  closedir(d);
  printf("installed %d guest files in %s\n", n, argv[0]);
  return 0;
}

/* ---- netgate ---- */

static int parse_addr(const char *s, struct sockaddr_in *out) {
  char host[64];
  const char *colon = strrchr(s, ':');
  if (!colon || (size_t)(colon - s) >= sizeof host) return -1;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = 0;
  long long port = parse_num(colon + 1);
  memset(out, 0, sizeof *out);
  out->sin_family = AF_INET;
  if (port <= 0 || port > 65535 || inet_pton(AF_INET, host, &out->sin_addr) != 1) return -1;
  out->sin_port = htons((uint16_t)port);
  return 0;
}

/* 1: connected, 0: refused, unreachable or no answer within timeout_ms. */
static int try_connect(const struct sockaddr_in *a, int timeout_ms) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  int r = connect(fd, (const struct sockaddr *)a, sizeof *a);
  int ok = 0;
  if (r == 0) ok = 1;
  else if (errno == EINPROGRESS) {
    struct pollfd p = {fd, POLLOUT, 0};
    if (poll(&p, 1, timeout_ms) == 1) {
      int err = 0;
      socklen_t len = sizeof err;
      ok = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
  }
  close(fd);
  return ok;
}

int mode_netgate(int argc, char **argv) {
  struct sockaddr_in deny, allow;
  int have_deny = 0, have_allow = 0;
  long long within = 30;
  for (int i = 0; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--deny") == 0) have_deny = parse_addr(argv[i + 1], &deny) == 0;
    else if (strcmp(argv[i], "--allow") == 0) have_allow = parse_addr(argv[i + 1], &allow) == 0;
    else if (strcmp(argv[i], "--within") == 0) within = parse_num(argv[i + 1]);
    else {
      warnf("netgate: unknown argument '%s'", argv[i]);
      return EXIT_USAGE;
    }
  }
  if (!have_deny || within <= 0) {
    warnf("netgate: usage: netgate --deny IP:PORT [--allow IP:PORT] [--within SECONDS]");
    return EXIT_USAGE;
  }
  long long deadline = now_ms() + within * 1000;
  int denied = 0, allowed = !have_allow;
  while (now_ms() < deadline) {
    denied = !try_connect(&deny, 500);
    if (have_allow) allowed = try_connect(&allow, 500);
    if (denied && allowed) {
      printf("netgate: the network policy holds\n");
      return 0;
    }
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  if (!denied) {
    warnf("netgate: the pod still reaches %s:%d after %lld s: nothing enforces its network policy (the cluster's network plugin ignores NetworkPolicy?)",
          inet_ntoa(deny.sin_addr), ntohs(deny.sin_port), within);
  } else {
    warnf("netgate: the pod cannot reach %s:%d (its egress proxy) after %lld s", inet_ntoa(allow.sin_addr), ntohs(allow.sin_port), within);
  }
  return 3;
}
