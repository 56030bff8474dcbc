/*
 * The pod sandbox's placeholder process for Warden's local cluster (scripts/kube-up.sh), which has no
 * registry to pull the upstream pause image from. It holds the pod's namespaces open, reaps zombies
 * when the pod shares one PID namespace, and exits on SIGINT/SIGTERM, which is how the runtime stops
 * a sandbox. Built static (`gcc -Os -static`) and packed as a one-layer image by build.sh.
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig) {
  (void)sig;
  _exit(0);
}

static void on_child(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sa.sa_handler = on_child;
  sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  sigaction(SIGCHLD, &sa, NULL);
  for (;;) pause();
}
