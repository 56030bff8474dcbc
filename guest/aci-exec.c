/*
 * `warden-aci-exec` (a name of warden-guard: main.c picks this mode when argv[0] ends in
 * "warden-aci-exec"): honest exec over one terminal stream.
 *
 * Azure Container Instances runs a command through `executeCommand` as one executable path with no
 * arguments, on a pseudo-terminal, and relays that terminal over a WebSocket as text: no exit code, no
 * stdin close, stdout and stderr merged, no resize, no signals. Warden starts this program there
 * instead of the command (/.warden/warden-aci-exec, a link to the guard). It puts the terminal in raw
 * mode with echo off, reads the real request (argv, env, cwd, options) from the stream, runs the
 * command on pipes and frames everything over the terminal as lines of printable ASCII, so the tty's
 * line discipline and ACI's UTF-8 text frames cannot change a byte:
 *
 *   helper -> client                         client -> helper
 *   ~H1 <window>   hello, stdin window       ~R<b64>   the request (first, once)
 *   ~S<pid>        the command started       ~I<b64>   stdin bytes (within the granted window)
 *   ~O<b64>        stdout bytes              ~Z        stdin EOF
 *   ~E<b64>        stderr bytes              ~K<sig>   signal the command's process tree
 *   ~C<n>          n more stdin bytes may    ~P        keep-alive (the dead-man switch)
 *                  be sent                   ~D        detach: the command goes on, unseen
 *                                            ~W<r> <c> resize the command's terminal (tty mode)
 *   ~Xc<n>[,why]   exited with code n        ('why': timeout | deadman | hangup, when this program
 *   ~Xs<n>[,why]   killed by signal n         ended it)
 *   ~P             alive (when nothing else  ~A        the exit record arrived: this program may
 *                  was written for 5 s)                go (the last record sent)
 *   ~L<why>        this program gave up on the client ('deadman': no record for the dead-man
 *                  seconds) and lets the command go on unseen; nothing more is written
 *   ~F<b64>        could not run / protocol error (a message); this program then exits
 *
 * The request is NUL-terminated fields, each a tag byte and a value: 'a' an argv element, 'e' NAME=VALUE
 * (over this program's environment), 'c' the working directory, 'i' stdin wanted ("1"), 't' timeout in
 * seconds, 'd' dead-man seconds (no record from the client for that long), 'm' the exec's mark
 * (WARDEN_EXEC_ID, how the tree is found again), 'k' ("1") keep the command when the client is lost,
 * 'y' ("ROWS COLS") run the command on a new pseudo-terminal of that size instead of pipes: its
 * output (one stream, as a terminal has) comes as ~O records, stdin goes to the terminal (its end is
 * the terminal's EOF character), ~W resizes it (the command gets SIGWINCH).
 *
 * When the client is lost (no record for the dead-man seconds, or the terminal hangs up) the command's
 * tree is killed, unless 'k' asked to keep it: then, as after `~D`, this program stops writing to the
 * terminal, closes the command's stdin, drains its output into nothing (so it never blocks on a full
 * pipe) and waits for it to end. Warden's ordinary execs use 'k' (closing the handle does not stop the
 * process; the guard's tree kill does); the owner tie (guest/init.c, --tie) does not.
 *
 * Silence alone does not prove a client gone: under load its pings can sit for seconds in its own
 * event loop, the platform's relay or the engine. So with 'k' a silent client is given up only where
 * waiting for it costs something: the command's output is stuck (the terminal has taken nothing for
 * the dead-man seconds) or the command's stdin is still open (a vanished client's stdin must end, as
 * an engine ends it when an attach drops). Then this program says so (~L) before it goes quiet, so a
 * client that was only slow learns why its exit record will not come. A command that just runs,
 * silent or with its output flowing, keeps its client however late its pings are, and its exit record
 * is written as always.
 *
 * The exit record is the last thing sent, and this program then waits (at most 15 s, less when the
 * terminal hangs up) for the client's ~A before it exits: a terminal relay may drop what a process
 * wrote last when the process exits at once (Docker's does, for terminal execs), and the exit record
 * is what must not be lost.
 *
 * Stdin uses credits so a command that never reads stdin cannot stall the control records behind it:
 * this program always reads the terminal. Output backpressure is the terminal's: when the client stops
 * reading, writes to the tty stall, and the command's pipes are no longer drained.
 *
 * It runs as the container's user (root in Warden's ACI images) and, being the guard binary, is
 * skipped by `warden-guard signal` (a stop's SIGTERM to every workload process does not cut the
 * stream that carries it); the workload's uid cannot signal it.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"

#define PROTOCOL 2
#define STDIN_WINDOW (64 * 1024)          /* stdin bytes the client may have in flight */
#define CHUNK 12288                       /* raw bytes per output record (16 KiB of base64) */
#define OUT_HIGH (128 * 1024)             /* stop draining the command's pipes above this */
#define IN_LINE_MAX (2 * 1024 * 1024)     /* longest record accepted from the client */
#define HEARTBEAT_MS 5000                 /* ~P when nothing else was written for this long */
#define ACK_WAIT_MS 15000                 /* how long the exit record waits for the client's ~A */
#define RECHECK_MS 500                    /* a silent client is looked at again this often */
#define REQ_ARGS_MAX 4096
#define REQ_ENV_MAX 4096

extern char **environ;

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---- growable byte buffers ---------------------------------------------------------------- */

struct buf { char *p; size_t len, cap, off; };

static void die_oom(void) {
  static const char m[] = "~FCannot allocate memory\n";
  (void)!write(STDOUT_FILENO, m, sizeof m - 1);
  _exit(125);
}

static void buf_reserve(struct buf *b, size_t extra) {
  if (b->off > 0 && b->off == b->len) b->off = b->len = 0;
  if (b->len + extra <= b->cap) return;
  if (b->off > 0) { /* compact before growing */
    memmove(b->p, b->p + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
    if (b->len + extra <= b->cap) return;
  }
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + extra) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) die_oom();
  b->p = p;
  b->cap = cap;
}

static size_t buf_pending(const struct buf *b) { return b->len - b->off; }

static void buf_append(struct buf *b, const void *data, size_t n) {
  buf_reserve(b, n);
  memcpy(b->p + b->len, data, n);
  b->len += n;
}

/* ---- base64 -------------------------------------------------------------------------------- */

static void b64_append(struct buf *b, const unsigned char *in, size_t n) {
  buf_reserve(b, (n + 2) / 3 * 4);
  char *o = b->p + b->len;
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
    *o++ = B64[v >> 18]; *o++ = B64[(v >> 12) & 63]; *o++ = B64[(v >> 6) & 63]; *o++ = B64[v & 63];
  }
  if (i < n) {
    unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0);
    *o++ = B64[v >> 18]; *o++ = B64[(v >> 12) & 63];
    *o++ = i + 1 < n ? B64[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
  b->len = (size_t)(o - b->p);
}

static int b64_val(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Decodes strict, padded base64 in place; returns the length or -1. */
static long b64_decode(char *s, size_t n) {
  if (n % 4) return -1;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    int a = b64_val(s[i]), b = b64_val(s[i + 1]);
    int last = i + 4 == n;
    int c = s[i + 2] == '=' && last ? -2 : b64_val(s[i + 2]);
    int d = s[i + 3] == '=' && last ? -2 : b64_val(s[i + 3]);
    if (a < 0 || b < 0 || c == -1 || d == -1 || (c == -2 && d != -2)) return -1;
    s[o++] = (char)(a << 2 | b >> 4);
    if (c >= 0) s[o++] = (char)((b & 15) << 4 | c >> 2);
    if (d >= 0) s[o++] = (char)((c & 3) << 6 | d);
  }
  return (long)o;
}

/* ---- state --------------------------------------------------------------------------------- */

static struct buf out;          /* records waiting for the terminal */
static struct buf in_line;      /* the client's current, unfinished record */
static struct buf to_child;     /* stdin bytes waiting for the command */
static struct termios saved_tio;
static int tio_saved;
static pid_t child = -1;
static int child_status = -1;   /* raw wait status once reaped */
static int fd_out = -1, fd_err = -1, fd_in = -1; /* our ends of the command's pipes */
static int stdin_wanted, stdin_eof, stdin_broken;
static int tty_mode;            /* 'y': the command runs on a pty whose master is fd_out (and fd_in) */
static long long tty_last_ms;   /* when the terminal last gave output, or the command was reaped */
#define TTY_SETTLE_MS 100       /* the tty layer hands output on asynchronously: quiet this long = all of it */
static struct winsize tty_size;
static long credit_owed;        /* stdin bytes consumed but not yet granted back */
static long credit_left = STDIN_WINDOW; /* what the client may still send */
static const char *why;         /* set when this program ends the command */
static char mark[128];
static long long deadline_ms = -1, deadman_ms = -1, last_rx_ms;
static int killed_hard;
static int keep_on_loss;        /* 'k': a lost client detaches instead of killing */
static int detached;            /* the client is gone or asked ~D: output goes nowhere */
static int tty_gone;            /* the client's side of the terminal is closed */
static long long last_tx_ms;    /* when the terminal last took bytes from us */
static long long out_blocked_ms = -1; /* since when the terminal takes nothing while output waits */
static int exited;              /* the exit record is queued: only ~A (or a hangup) is awaited */
static int acked;               /* the client's ~A arrived */

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void record(char type, const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line + 2, sizeof line - 3, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n > (int)sizeof line - 4) n = (int)sizeof line - 4;
  line[0] = '~';
  line[1] = type;
  line[n + 2] = '\n';
  buf_append(&out, line, (size_t)n + 3);
}

static void record_data(char type, const void *data, size_t n) {
  char head[2] = {'~', type};
  buf_append(&out, head, 2);
  b64_append(&out, data, n);
  buf_append(&out, "\n", 1);
}

static void restore_tty(void) {
  if (tio_saved) tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
}

/* Writes everything queued to the terminal, blocking (used on the way out). */
static void flush_out_blocking(void) {
  int fl = fcntl(STDOUT_FILENO, F_GETFL);
  if (fl >= 0) fcntl(STDOUT_FILENO, F_SETFL, fl & ~O_NONBLOCK);
  while (buf_pending(&out)) {
    ssize_t w = write(STDOUT_FILENO, out.p + out.off, buf_pending(&out));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    out.off += (size_t)w;
  }
}

static void fatal(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  record_data('F', msg, strlen(msg));
  flush_out_blocking();
  restore_tty();
  _exit(125);
}

/* ---- the command's process tree ------------------------------------------------------------ */

/* Does /proc/<pid>/environ hold exactly "WARDEN_EXEC_ID=<mark>"? Readable for our own uid only. */
static int has_mark(pid_t pid) {
  char path[64], needle[160];
  snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  static char env[256 * 1024];
  size_t len = 0;
  ssize_t r;
  while (len < sizeof env - 1 && (r = read(fd, env + len, sizeof env - 1 - len)) > 0) len += (size_t)r;
  close(fd);
  env[len] = 0;
  int nl = snprintf(needle, sizeof needle, "WARDEN_EXEC_ID=%s", mark);
  for (size_t i = 0; i < len;) {
    size_t e = strnlen(env + i, len - i);
    if (e == (size_t)nl && memcmp(env + i, needle, (size_t)nl) == 0) return 1;
    i += e + 1;
  }
  return 0;
}

/* Signals the command's process group and every process carrying the exec's mark (those that left
 * the group with setsid or a double fork keep the mark in their environment). */
static void signal_tree(int sig) {
  if (child > 0) kill(-child, sig); /* the group may outlive its leader */
  if (!mark[0]) return;
  DIR *d = opendir("/proc");
  if (!d) return;
  struct dirent *e;
  pid_t self = getpid();
  while ((e = readdir(d))) {
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    pid_t p = (pid_t)atoi(e->d_name);
    if (p == self || p <= 1) continue;
    if (has_mark(p)) kill(p, sig);
  }
  closedir(d);
}

static void end_command(const char *reason) {
  if (!why) why = reason;
  killed_hard = 1;
  signal_tree(SIGKILL);
}

static void close_child_stdin(void);

/* The command goes on without a client: nothing more is written to the terminal, its stdin is
 * closed, and its output is drained into nothing until it ends. */
static void detach(void) {
  detached = 1;
  tty_gone = 1;
  stdin_eof = 1;
  to_child.off = to_child.len = 0;
  close_child_stdin();
}

/* The client is gone (hangup, or silent past the dead-man seconds). */
static void client_lost(const char *reason) {
  if (keep_on_loss) detach();
  else end_command(reason);
}

/* ---- the request --------------------------------------------------------------------------- */

static char *req_argv[REQ_ARGS_MAX + 1];
static char *req_env[REQ_ENV_MAX + 1];
static char *req_cwd;

static void set_env(char **env, int *n, char *kv) {
  size_t k = (size_t)(strchr(kv, '=') - kv);
  for (int i = 0; i < *n; i++) {
    if (strncmp(env[i], kv, k + 1) == 0) { env[i] = kv; return; }
  }
  if (*n >= REQ_ENV_MAX) fatal("request has more than %d environment variables", REQ_ENV_MAX);
  env[(*n)++] = kv;
}

static void parse_request(char *p, size_t n) {
  int argc = 0, envc = 0;
  for (char **e = environ; *e && envc < REQ_ENV_MAX; e++) req_env[envc++] = *e;
  if (n == 0 || p[n - 1] != 0) fatal("request is not NUL-terminated");
  for (size_t i = 0; i < n;) {
    char *f = p + i;
    size_t len = strlen(f);
    i += len + 1;
    if (len == 0) fatal("request has an empty field");
    char *v = f + 1;
    switch (f[0]) {
      case 'a':
        if (argc >= REQ_ARGS_MAX) fatal("request has more than %d arguments", REQ_ARGS_MAX);
        req_argv[argc++] = v;
        break;
      case 'e':
        if (!strchr(v, '=') || v[0] == '=') fatal("environment entry without NAME=: %.64s", v);
        set_env(req_env, &envc, v);
        break;
      case 'c': req_cwd = v; break;
      case 'i': stdin_wanted = strcmp(v, "1") == 0; break;
      case 't': {
        long s = atol(v);
        if (s > 0) deadline_ms = now_ms() + s * 1000LL;
        break;
      }
      case 'd': {
        long s = atol(v);
        if (s > 0) deadman_ms = s * 1000LL;
        break;
      }
      case 'm':
        if (strlen(v) >= sizeof mark) fatal("exec mark too long");
        strcpy(mark, v);
        break;
      case 'k': keep_on_loss = strcmp(v, "1") == 0; break;
      case 'y': {
        unsigned rows = 0, cols = 0;
        if (sscanf(v, "%u %u", &rows, &cols) != 2 || rows == 0 || cols == 0 || rows > 10000 || cols > 10000) fatal("bad terminal size %.32s", v);
        tty_mode = 1;
        tty_size = (struct winsize){.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
        break;
      }
      default: fatal("unknown request field '%c'", f[0]);
    }
  }
  if (argc == 0) fatal("request has no command");
  req_argv[argc] = NULL;
  if (mark[0]) {
    static char kv[160];
    snprintf(kv, sizeof kv, "WARDEN_EXEC_ID=%s", mark);
    set_env(req_env, &envc, kv);
  }
  req_env[envc] = NULL;
}

static void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* The command on a new pseudo-terminal: the master stays here (fd_out, and a dup as fd_in), the
 * slave becomes the command's controlling terminal and stdio. */
static void spawn_tty(void) {
  int ps[2];
  if (pipe2(ps, O_CLOEXEC)) fatal("pipe: %s", strerror(errno));
  int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0) fatal("cannot make a terminal: %s", strerror(errno));
  char name[128];
  if (ptsname_r(m, name, sizeof name) != 0) fatal("cannot name the terminal: %s", strerror(errno));
  ioctl(m, TIOCSWINSZ, &tty_size);
  pid_t pid = fork();
  if (pid < 0) fatal("fork: %s", strerror(errno));
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    setsid();
    int sl = open(name, O_RDWR);
    if (sl < 0 || ioctl(sl, TIOCSCTTY, 0) != 0 || dup2(sl, 0) < 0 || dup2(sl, 1) < 0 || dup2(sl, 2) < 0) {
      char e[16];
      int n = snprintf(e, sizeof e, "s%d", errno);
      (void)!write(ps[1], e, (size_t)n);
      _exit(126);
    }
    if (sl > 2) close(sl);
    if (req_cwd && chdir(req_cwd) != 0) {
      char e[16];
      int n = snprintf(e, sizeof e, "c%d", errno);
      (void)!write(ps[1], e, (size_t)n);
      _exit(126);
    }
    environ = req_env;
    execvp(req_argv[0], req_argv);
    char e[16];
    int err = errno, n = snprintf(e, sizeof e, "x%d", err);
    (void)!write(ps[1], e, (size_t)n);
    _exit(err == ENOENT ? 127 : 126);
  }
  child = pid;
  close(ps[1]);
  char st[16] = {0};
  ssize_t r;
  while ((r = read(ps[0], st, sizeof st - 1)) < 0 && errno == EINTR) {}
  close(ps[0]);
  if (r > 0) {
    int err = atoi(st + 1), ws;
    waitpid(pid, &ws, 0);
    child = -1;
    if (st[0] == 'c') fatal("cannot change to directory %s: %s", req_cwd, strerror(err));
    if (st[0] == 'x') fatal("cannot run %s: %s", req_argv[0], strerror(err));
    fatal("cannot give the command its terminal: %s", strerror(err));
  }
  fd_out = m;
  fd_in = stdin_wanted ? fcntl(m, F_DUPFD_CLOEXEC, 3) : -1;
  set_nonblock(fd_out);
  if (fd_in >= 0) set_nonblock(fd_in);
  record('S', "%d", (int)pid);
}

static void spawn(void) {
  if (tty_mode) {
    spawn_tty();
    return;
  }
  int po[2], pe[2], pi[2] = {-1, -1}, ps[2];
  if (pipe2(po, O_CLOEXEC) || pipe2(pe, O_CLOEXEC) || pipe2(ps, O_CLOEXEC)) fatal("pipe: %s", strerror(errno));
  if (stdin_wanted && pipe2(pi, O_CLOEXEC)) fatal("pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) fatal("fork: %s", strerror(errno));
  if (pid == 0) {
    /* The command: its own session (no controlling terminal, so it cannot read or write the framed
     * stream through /dev/tty), default signals, pipes for stdio. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    setsid();
    int in = stdin_wanted ? pi[0] : open("/dev/null", O_RDONLY);
    if (in < 0 || dup2(in, 0) < 0 || dup2(po[1], 1) < 0 || dup2(pe[1], 2) < 0) goto fail_stdio;
    if (req_cwd && chdir(req_cwd) != 0) {
      int err = errno;
      char m[16];
      int n = snprintf(m, sizeof m, "c%d", err);
      (void)!write(ps[1], m, (size_t)n);
      _exit(126);
    }
    environ = req_env;
    execvp(req_argv[0], req_argv);
    {
      int err = errno;
      char m[16];
      int n = snprintf(m, sizeof m, "x%d", err);
      (void)!write(ps[1], m, (size_t)n);
      _exit(err == ENOENT ? 127 : 126);
    }
  fail_stdio: {
      char m[16];
      int n = snprintf(m, sizeof m, "s%d", errno);
      (void)!write(ps[1], m, (size_t)n);
      _exit(126);
    }
  }
  child = pid;
  close(po[1]);
  close(pe[1]);
  close(ps[1]);
  if (stdin_wanted) close(pi[0]);
  /* The status pipe closes on a successful exec (CLOEXEC) or carries the failure. */
  char m[16] = {0};
  ssize_t r;
  while ((r = read(ps[0], m, sizeof m - 1)) < 0 && errno == EINTR) {}
  close(ps[0]);
  if (r > 0) {
    int err = atoi(m + 1);
    int st;
    waitpid(pid, &st, 0);
    child = -1;
    if (m[0] == 'c') fatal("cannot change to directory %s: %s", req_cwd, strerror(err));
    if (m[0] == 'x') fatal("cannot run %s: %s", req_argv[0], strerror(err));
    fatal("cannot set up the command's stdio: %s", strerror(err));
  }
  fd_out = po[0];
  fd_err = pe[0];
  fd_in = stdin_wanted ? pi[1] : -1;
  set_nonblock(fd_out);
  set_nonblock(fd_err);
  if (fd_in >= 0) set_nonblock(fd_in);
  record('S', "%d", (int)pid);
}

/* ---- records from the client --------------------------------------------------------------- */

static int requested;

static void close_child_stdin(void) {
  if (fd_in >= 0 && tty_mode && !detached) {
    /* a terminal has no end of input of its own: its EOF character ends a read, as ^D typed would */
    char eof = 4;
    struct termios t;
    if (tcgetattr(fd_in, &t) == 0) eof = (char)t.c_cc[VEOF];
    (void)!write(fd_in, &eof, 1);
  }
  if (fd_in >= 0) close(fd_in);
  fd_in = -1;
}

static void grant(long n) {
  credit_owed += n;
}

static void handle_record(char *line, size_t n) {
  if (n < 2 || line[0] != '~') fatal("protocol: unexpected input from the client");
  char type = line[1];
  char *v = line + 2;
  size_t vn = n - 2;
  last_rx_ms = now_ms();
  if (exited) { /* after the exit record only the acknowledgement matters; the rest was in flight */
    if (type == 'A') acked = 1;
    return;
  }
  if (!requested && type != 'R' && type != 'P') fatal("protocol: the first record must be the request");
  switch (type) {
    case 'R': {
      if (requested) fatal("protocol: a second request");
      long len = b64_decode(v, vn);
      if (len < 0) fatal("protocol: bad base64 in the request");
      requested = 1;
      parse_request(v, (size_t)len);
      spawn();
      break;
    }
    case 'I': {
      long len = b64_decode(v, vn);
      if (len < 0) fatal("protocol: bad base64 in stdin");
      if (len > credit_left) fatal("protocol: stdin beyond the granted window");
      credit_left -= len;
      if (stdin_eof) fatal("protocol: stdin after its end");
      if (!stdin_wanted || stdin_broken) grant(len); /* nobody reads it: drop it, give the credit back */
      else buf_append(&to_child, v, (size_t)len);
      break;
    }
    case 'Z':
      stdin_eof = 1;
      if (buf_pending(&to_child) == 0) close_child_stdin();
      break;
    case 'K': {
      int sig = atoi(v);
      if (sig <= 0 || sig >= 65) fatal("protocol: bad signal %.16s", v);
      signal_tree(sig);
      break;
    }
    case 'P': break;
    case 'A': break; /* an acknowledgement before any exit: nothing to do */
    case 'D':
      detach();
      break;
    case 'W': {
      unsigned rows = 0, cols = 0;
      if (sscanf(v, "%u %u", &rows, &cols) != 2 || rows == 0 || cols == 0 || rows > 10000 || cols > 10000) fatal("protocol: bad terminal size %.32s", v);
      if (tty_mode && fd_out >= 0) {
        tty_size = (struct winsize){.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
        ioctl(fd_out, TIOCSWINSZ, &tty_size);
      }
      break;
    }
    default: fatal("protocol: unknown record type '%c'", type);
  }
}

static void read_terminal(void) {
  char tmp[65536];
  for (;;) {
    ssize_t r = read(STDIN_FILENO, tmp, sizeof tmp);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) return;
    if (r <= 0) { /* the terminal is gone (EOF or EIO): nobody can see the result */
      tty_gone = 1;
      if (!requested) _exit(125);
      if (!exited) client_lost("hangup"); /* after the exit there is no command left to decide for */
      return;
    }
    for (ssize_t i = 0; i < r; i++) {
      char c = tmp[i];
      if (c == '\r') continue;
      if (c == '\n') {
        size_t n = in_line.len;
        buf_append(&in_line, "", 1);
        in_line.len = n;
        if (n) handle_record(in_line.p, n);
        in_line.len = 0;
        continue;
      }
      if (in_line.len >= IN_LINE_MAX) fatal("protocol: record longer than %d bytes", IN_LINE_MAX);
      buf_append(&in_line, &c, 1);
    }
  }
}

/* ---- main loop ----------------------------------------------------------------------------- */

/* Reads what the command wrote into records while there is room; 1 when it is all read for now. */
static int drain_pipe(int *fd, char type) {
  unsigned char tmp[CHUNK];
  while (*fd >= 0 && buf_pending(&out) < OUT_HIGH) {
    ssize_t r = read(*fd, tmp, sizeof tmp);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) return 1;
    if (r <= 0) { close(*fd); *fd = -1; return 1; }
    if (tty_mode) tty_last_ms = now_ms();
    record_data(type, tmp, (size_t)r);
  }
  return *fd < 0;
}

static void feed_child(void) {
  while (fd_in >= 0 && buf_pending(&to_child)) {
    ssize_t w = write(fd_in, to_child.p + to_child.off, buf_pending(&to_child));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) return;
    if (w < 0) { /* EPIPE: the command closed its stdin; what is left is dropped */
      grant((long)buf_pending(&to_child));
      to_child.off = to_child.len = 0;
      stdin_broken = 1;
      close_child_stdin();
      return;
    }
    to_child.off += (size_t)w;
    grant(w);
  }
  if (fd_in >= 0 && stdin_eof && buf_pending(&to_child) == 0) close_child_stdin();
}

static void flush_out(void) {
  if (tty_gone) { out.off = out.len = 0; return; } /* nobody reads it any more */
  while (buf_pending(&out)) {
    ssize_t w = write(STDOUT_FILENO, out.p + out.off, buf_pending(&out));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {
      if (out_blocked_ms < 0) out_blocked_ms = now_ms();
      return;
    }
    if (w < 0) {
      tty_gone = 1;
      if (!exited) client_lost("hangup");
      out.off = out.len = 0;
      return;
    }
    out.off += (size_t)w;
    last_tx_ms = now_ms();
    out_blocked_ms = -1;
  }
}

/* The client sent nothing for the dead-man seconds. Without 'k' the command's tree is killed (its
 * exit record says why). With 'k' the client is given up only where waiting costs something (see the
 * header): its output is stuck, or its stdin is still open. Returns 1 when it was given up. */
static int client_silent(long long now) {
  if (!keep_on_loss) {
    end_command("deadman");
    return 1;
  }
  int stuck = out_blocked_ms >= 0 && now - out_blocked_ms >= deadman_ms;
  int stdin_open = fd_in >= 0 || (stdin_wanted && !stdin_eof);
  if (!stuck && !stdin_open) return 0;
  /* say so before going quiet, in case the client was only slow (best effort: the terminal may be full) */
  buf_append(&out, "~Ldeadman\n", 10);
  flush_out();
  detach();
  return 1;
}

/* After the exit record: keep writing it out and wait for the client's ~A, at most ACK_WAIT_MS,
 * less when the terminal hangs up or the client detaches. Never blocks on a terminal nobody reads. */
static void await_ack(int sfd) {
  exited = 1;
  long long until = now_ms() + ACK_WAIT_MS;
  for (;;) {
    flush_out();
    if (tty_gone || acked || detached) return;
    long long left = until - now_ms();
    if (left <= 0) return;
    struct pollfd p[3];
    int n = 0;
    p[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
    p[n++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
    if (buf_pending(&out)) p[n++] = (struct pollfd){.fd = STDOUT_FILENO, .events = POLLOUT};
    if (poll(p, (nfds_t)n, (int)left) < 0 && errno != EINTR) return;
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == sizeof si) {
      if (si.ssi_signo == SIGHUP || si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT || si.ssi_signo == SIGQUIT) return;
    }
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
    read_terminal();
  }
}

int mode_aci_exec(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--version") == 0) {
    printf("warden-aci-exec protocol %d\n", PROTOCOL);
    return 0;
  }
  if (argc > 1) {
    fprintf(stderr, "usage: warden-aci-exec (no arguments; the request comes over the terminal)\n");
    return 125;
  }
  if (!isatty(STDIN_FILENO)) {
    fprintf(stderr, "warden-aci-exec: stdin is not a terminal\n");
    return 125;
  }
  /* Raw, no echo: every byte passes both ways untouched, and nothing the client sends comes back. */
  if (tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
    struct termios raw = saved_tio;
    cfmakeraw(&raw);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    tio_saved = 1;
  }
  /* No further opens of this terminal (EBUSY), so other processes of the sandbox cannot read the
   * client's records or write forged ones; the command itself gets pipes and no controlling tty. */
  ioctl(STDIN_FILENO, TIOCEXCL);

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGHUP);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGQUIT);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  signal(SIGPIPE, SIG_IGN);
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) fatal("signalfd: %s", strerror(errno));

  set_nonblock(STDIN_FILENO);
  set_nonblock(STDOUT_FILENO);
  record('H', "%d %d", PROTOCOL, STDIN_WINDOW);
  last_rx_ms = last_tx_ms = now_ms();

  for (;;) {
    /* done: the command was reaped and its output pipes are closed */
    if (child_status >= 0 && fd_out < 0 && fd_err < 0) break;


    if (credit_owed > 0 && (credit_owed >= STDIN_WINDOW / 4 || buf_pending(&to_child) == 0)) {
      record('C', "%ld", credit_owed);
      credit_left += credit_owed;
      credit_owed = 0;
    }

    long long now = now_ms();
    if (deadline_ms >= 0 && now >= deadline_ms && !killed_hard && child > 0) end_command("timeout");
    int silent = requested && deadman_ms >= 0 && !detached && !killed_hard && child > 0 && now - last_rx_ms >= deadman_ms;
    if (silent && client_silent(now)) silent = 0;
    if (requested && !tty_gone && buf_pending(&out) == 0 && now - last_tx_ms >= HEARTBEAT_MS) buf_append(&out, "~P\n", 3);
    if (!requested && now - last_rx_ms >= 60000) fatal("protocol: no request within 60 s");

    struct pollfd p[6];
    int n = 0;
    if (tty_gone) out.off = out.len = 0; /* nobody reads it any more */
    p[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
    if (!tty_gone) p[n++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
    if (buf_pending(&out)) p[n++] = (struct pollfd){.fd = STDOUT_FILENO, .events = POLLOUT};
    int room = buf_pending(&out) < OUT_HIGH;
    if (fd_out >= 0 && room) p[n++] = (struct pollfd){.fd = fd_out, .events = POLLIN};
    if (fd_err >= 0 && room) p[n++] = (struct pollfd){.fd = fd_err, .events = POLLIN};
    if (fd_in >= 0 && buf_pending(&to_child)) p[n++] = (struct pollfd){.fd = fd_in, .events = POLLOUT};

    long long wait = -1;
    if (deadline_ms >= 0 && !killed_hard) wait = deadline_ms - now;
    if (requested && deadman_ms >= 0 && !killed_hard && !detached) {
      /* a silent client that was kept (see client_silent) is looked at again, not spun on */
      long long d = silent ? RECHECK_MS : last_rx_ms + deadman_ms - now;
      if (wait < 0 || d < wait) wait = d;
    }
    if (requested && !tty_gone && buf_pending(&out) == 0) {
      long long d = last_tx_ms + HEARTBEAT_MS - now;
      if (d < 0) d = 0;
      if (wait < 0 || d < wait) wait = d;
    }
    if (!requested) {
      long long d = last_rx_ms + 60000 - now;
      if (wait < 0 || d < wait) wait = d;
    }
    if (wait < -1) wait = 0;
    if (killed_hard && wait < 0) wait = 200; /* re-sweep stragglers of a killed tree */
    if (tty_mode && child_status >= 0 && fd_out >= 0 && (wait < 0 || wait > TTY_SETTLE_MS)) wait = TTY_SETTLE_MS;
    int pr = poll(p, (nfds_t)n, wait > 2000000000 ? 2000000000 : (int)wait);
    if (pr < 0 && errno != EINTR) fatal("poll: %s", strerror(errno));
    if (killed_hard) signal_tree(SIGKILL);

    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == sizeof si) {
      if (si.ssi_signo == SIGHUP) {
        tty_gone = 1;
        if (!requested) _exit(125);
        client_lost("hangup");
      }
      else if (si.ssi_signo != SIGCHLD) signal_tree((int)si.ssi_signo);
    }
    /* reap the command and anything else that was ours, in one loop: the command's status is kept
     * whichever waitpid collects it (a command that ended between a waitpid on it and a reap-all after
     * it used to be reaped by the latter, its status lost: no exit record, ever, and the exec hung) */
    {
      int st;
      pid_t w;
      while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
        if (w == child && child_status < 0) {
          child_status = st;
          tty_last_ms = now_ms();
        }
      }
    }

    if (!tty_gone) read_terminal();
    feed_child();
    int drained = drain_pipe(&fd_out, 'O');
    drain_pipe(&fd_err, 'E');
    /* on a terminal, the command's end is the end: what it left running may hold the terminal open
     * forever (as a shell's background job would), so once what is there has been read, stop */
    if (tty_mode && child_status >= 0 && fd_out >= 0 && drained && now_ms() - tty_last_ms >= TTY_SETTLE_MS) {
      close(fd_out);
      fd_out = -1;
    }
    flush_out();
  }

  /* nobody reads the terminal any more: a blocking write there could hang this process for good */
  if (detached) return 0;
  if (WIFEXITED(child_status)) record('X', "c%d%s%s", WEXITSTATUS(child_status), why ? "," : "", why ? why : "");
  else record('X', "s%d%s%s", WTERMSIG(child_status), why ? "," : "", why ? why : "");
  await_ack(sfd);
  restore_tty();
  return 0;
}
