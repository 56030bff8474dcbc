/*
 * Measuring the workspace for the disk quota (`init --disk-quota`), like `du -sx`, without recursion:
 * a workload that nests directories tens of thousands deep must not overflow the guard's stack (glibc's
 * nftw recurses per level and crashed at ~60,000 levels). Directories are walked with an explicit stack
 * of open directory descriptors (openat with O_NOFOLLOW, fstatat without following links), one per level
 * of the current path; each directory is read whole and closed for reading before going down, so memory
 * is the pending names only. Deeper than DISK_MAX_DEPTH, or out of descriptors, the walk reports it
 * cannot measure, and the caller fails closed (ends the sandbox with the reason).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guard.h"

struct level {
  int fd;
  char **names; /* subdirectories still to visit */
  size_t n, i, cap;
};

/* Count the entries of the directory at `fd` and collect its subdirectories (same filesystem). */
static int read_level(struct level *lv, dev_t dev, long long *blocks) {
  int dfd = dup(lv->fd);
  if (dfd < 0) return -1;
  DIR *d = fdopendir(dfd);
  if (!d) {
    close(dfd);
    return -1;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    struct stat st;
    if (fstatat(lv->fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue; /* gone meanwhile */
    if (st.st_dev != dev) continue;                                           /* another filesystem: not ours to count */
    /* a file with several links is counted once in total, whichever of its names is met */
    *blocks += st.st_nlink > 1 && !S_ISDIR(st.st_mode) ? st.st_blocks / (long long)st.st_nlink : st.st_blocks;
    if (!S_ISDIR(st.st_mode)) continue;
    if (lv->n == lv->cap) {
      size_t cap = lv->cap ? lv->cap * 2 : 16;
      char **nv = realloc(lv->names, cap * sizeof *nv);
      if (!nv) {
        closedir(d);
        return -1;
      }
      lv->names = nv;
      lv->cap = cap;
    }
    char *name = strdup(e->d_name);
    if (!name) {
      closedir(d);
      return -1;
    }
    lv->names[lv->n++] = name;
  }
  closedir(d);
  return 0;
}

static void drop_level(struct level *lv) {
  for (size_t k = lv->i; k < lv->n; k++) free(lv->names[k]);
  free(lv->names);
  if (lv->fd >= 0) close(lv->fd);
  memset(lv, 0, sizeof *lv);
  lv->fd = -1;
}

int disk_usage_kib(const char *root, long long *kib) {
  *kib = 0;
  int rfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rfd < 0) return errno == ENOENT ? 0 : -1;
  struct stat st;
  if (fstat(rfd, &st) != 0) {
    close(rfd);
    return -1;
  }
  dev_t dev = st.st_dev;
  long long blocks = st.st_blocks;
  struct level *levels = calloc(DISK_MAX_DEPTH + 1, sizeof *levels);
  if (!levels) {
    close(rfd);
    return -1;
  }
  int depth = 0, failed = 0;
  levels[0].fd = rfd;
  if (read_level(&levels[0], dev, &blocks) != 0) failed = 1;
  while (!failed && depth >= 0) {
    struct level *lv = &levels[depth];
    if (lv->i == lv->n) {
      drop_level(lv);
      depth--;
      continue;
    }
    char *name = lv->names[lv->i++];
    int fd = openat(lv->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int err = errno;
    free(name);
    if (fd < 0) {
      /* replaced or removed meanwhile: skip it; out of descriptors or memory: cannot measure */
      if (err == EMFILE || err == ENFILE || err == ENOMEM) failed = 1;
      continue;
    }
    if (depth + 1 > DISK_MAX_DEPTH) {
      close(fd);
      failed = 2;
      break;
    }
    depth++;
    levels[depth].fd = fd;
    if (read_level(&levels[depth], dev, &blocks) != 0) failed = 1;
  }
  for (int k = depth; k >= 0; k--) drop_level(&levels[k]);
  free(levels);
  *kib = blocks / 2;
  return failed ? -failed : 0;
}

/* `warden-guard du PATH`: the walk above, for tests; prints KiB, or exits 3 (too deep) / 1 (cannot measure). */
int mode_du(int argc, char **argv) {
  if (argc < 1) {
    warnf("du: usage: du PATH");
    return 125;
  }
  long long kib;
  int r = disk_usage_kib(argv[0], &kib);
  if (r == -2) return 3;
  if (r != 0) return 1;
  printf("%lld\n", kib);
  return 0;
}
