/*
 * warden-guard: Warden's code inside sandboxes. Modes:
 *   init   PID 1: reaper of orphans, max runtime, dead-man switch, disk quota, graceful drain
 *   exec   the holder of one workload command: subreaper, privilege drop, deadline
 *   kill   signal one exec's whole tree          signal  signal every workload process
 *   reap   the per-owner reaper container's job (removes a dead owner's ephemeral objects)
 *   env    start a command with environment from stdin and a working directory (narrow exec APIs)
 *   install  copy the guest files into a directory (a pod's init container)
 *   netgate  wait until the pod's network policy is enforced (a pod's init container)
 *   tie    hold an ACI sandbox's owner tie (init --tie)
 *   du     the disk quota's measurement of a directory (for tests)
 *   version
 * Started by the name warden-aci-exec (a link to this binary: ACI's executeCommand passes no
 * arguments, so the name is the mode), it is the framed exec of aci-exec.c.
 */
#include <stdio.h>
#include <string.h>

#include "guard.h"

#ifndef GUARD_VERSION
#define GUARD_VERSION "dev"
#endif

static int named(const char *argv0, const char *name) {
  size_t n = strlen(argv0), m = strlen(name);
  return n >= m && strcmp(argv0 + n - m, name) == 0 && (n == m || argv0[n - m - 1] == '/');
}

int main(int argc, char **argv) {
  if (argc >= 1 && named(argv[0], "warden-aci-exec")) return mode_aci_exec(argc, argv);
  if (argc < 2) {
    fprintf(stderr, "usage: warden-guard init|exec|kill|signal|reap|tie|env|install|netgate|du|version ...\n");
    return 125;
  }
  const char *mode = argv[1];
  if (strcmp(mode, "init") == 0) return mode_init(argc - 2, argv + 2);
  if (strcmp(mode, "exec") == 0) return mode_exec(argc - 2, argv + 2);
  if (strcmp(mode, "kill") == 0) return mode_kill(argc - 2, argv + 2);
  if (strcmp(mode, "signal") == 0) return mode_signal(argc - 2, argv + 2);
  if (strcmp(mode, "reap") == 0) return mode_reap(argc - 2, argv + 2);
  if (strcmp(mode, "env") == 0) return mode_env(argc - 2, argv + 2);
  if (strcmp(mode, "install") == 0) return mode_install(argc - 2, argv + 2);
  if (strcmp(mode, "netgate") == 0) return mode_netgate(argc - 2, argv + 2);
  if (strcmp(mode, "tie") == 0) return mode_tie(argc - 2, argv + 2);
  if (strcmp(mode, "aci-exec") == 0) return mode_aci_exec(argc - 1, argv + 1);
  if (strcmp(mode, "du") == 0) return mode_du(argc - 2, argv + 2);
  if (strcmp(mode, "version") == 0) {
    printf("warden-guard %s\n", GUARD_VERSION);
    return 0;
  }
  fprintf(stderr, "warden-guard: unknown mode '%s'\n", mode);
  return 125;
}
