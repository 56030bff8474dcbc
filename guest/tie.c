/*
 * `warden-guard tie --fifo PATH`: the owner tie of a sandbox on Azure Container Instances, where no
 * stdin can be attached to PID 1 (Docker's dead-man switch, init --tied). The owning Warden process
 * runs this through a framed exec (aci-exec.c) whose dead-man kills it when the owner stops pinging
 * (it died, even by kill -9, or lost the connection). It opens the FIFO that init --tie made in its
 * root-only directory, announces itself with 't' and holds the FIFO open; init ends the sandbox once
 * the last tie has been gone for its grace. A 'u' on this program's stdin is passed on: init unties
 * for good (the owner released the sandbox), and EOF on stdin ends this program.
 *
 * It refuses a FIFO that is not root's in a directory that only root can write, so a tie can only
 * ever be held open by root (the container's user on ACI), never by the workload's uid.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guard.h"

/* 0 when `path` is a FIFO of root's in a directory of root's that nobody else may write. */
int tie_path_safe(const char *path) {
  char copy[4096];
  if (strlen(path) >= sizeof copy || path[0] != '/') return -1;
  strcpy(copy, path);
  const char *dir = dirname(copy);
  struct stat d, f;
  if (lstat(dir, &d) != 0 || !S_ISDIR(d.st_mode) || d.st_uid != 0 || (d.st_mode & 0022)) return -1;
  if (lstat(path, &f) != 0 || !S_ISFIFO(f.st_mode) || f.st_uid != 0) return -1;
  return 0;
}

int mode_tie(int argc, char **argv) {
  const char *path = NULL;
  for (int i = 0; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--fifo") == 0) path = argv[i + 1];
  }
  if (!path) {
    warnf("tie: usage: tie --fifo PATH");
    return 125;
  }
  if (tie_path_safe(path) != 0) {
    warnf("tie: %s is not init's owner tie (a FIFO of root's in a directory only root may write)", path);
    return 126;
  }
  signal(SIGPIPE, SIG_IGN);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    warnf("tie: cannot open %s: %s", path, strerror(errno));
    return 126;
  }
  if (write(fd, "t", 1) != 1) {
    warnf("tie: init does not read %s: %s", path, strerror(errno));
    return 126;
  }
  printf("tied\n");
  fflush(stdout);
  char buf[256];
  for (;;) {
    ssize_t r = read(0, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return 0; /* the owner let go (EOF), or stdin is gone */
    for (ssize_t i = 0; i < r; i++) {
      if (buf[i] != 'u') continue;
      if (write(fd, "u", 1) != 1) return 1;
      printf("untied\n");
      fflush(stdout);
    }
  }
}
