/*
 * `warden-guard reap --socket PATH --label KEY=VALUE`: the per-owner reaper.
 *
 * Runs in its own container (network none, no capabilities, the engine socket bind-mounted, removed
 * by the engine when it exits), started by a Warden process that owns ephemeral sandboxes and tied to
 * it the same way they are: the owner keeps the container's stdin attached. When stdin closes (the
 * owner exited or was killed, even by kill -9), it removes every container, then every network and
 * volume, carrying the label (the owner's link id), and exits. No Warden process needs to be alive.
 * It speaks HTTP/1.0 to the Engine API over the unix socket (one request per connection, the answer
 * read to EOF) and looks only for `"Id":"<hex>"` / `"Name":"..."` in JSON it asked for by label.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"

static const char *sock_path = "/run/warden/engine.sock";

/* One request; returns the malloc'd body (NUL-terminated) and sets *status, or NULL. */
static char *http(const char *method, const char *path, int *status) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return NULL;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock_path);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    close(fd);
    return NULL;
  }
  char req[4096];
  int n = snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: engine\r\nContent-Length: 0\r\n\r\n", method, path);
  if (n <= 0 || (size_t)n >= sizeof req || write(fd, req, (size_t)n) != n) {
    close(fd);
    return NULL;
  }
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (!buf) break;
    if (len + 1 >= cap) {
      cap *= 2;
      char *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
    }
    ssize_t r = read(fd, buf + len, cap - len - 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    len += (size_t)r;
  }
  close(fd);
  if (!buf) return NULL;
  buf[len] = 0;
  *status = 0;
  if (strncmp(buf, "HTTP/1.", 7) == 0 && len > 12) *status = atoi(buf + 9);
  char *body = strstr(buf, "\r\n\r\n");
  if (!body) {
    free(buf);
    return NULL;
  }
  memmove(buf, body + 4, strlen(body + 4) + 1);
  return buf;
}

/* Percent-encode for a query string. */
static void urlencode(const char *in, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < cap; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
      out[o++] = (char)*p;
    } else {
      out[o++] = '%';
      out[o++] = hex[*p >> 4];
      out[o++] = hex[*p & 15];
    }
  }
  out[o] = 0;
}

/*
 * Values of `"<key>":"..."` in a JSON text (ids and names hold no escapes; `"` inside a string
 * value is always escaped, so the pattern cannot start inside one). Calls fn for each.
 */
static int each_value(const char *json, const char *key, int (*fn)(const char *), int *failed) {
  char pat[32];
  snprintf(pat, sizeof pat, "\"%s\":\"", key);
  int count = 0;
  for (const char *p = json; (p = strstr(p, pat)); ) {
    p += strlen(pat);
    const char *end = strchr(p, '"');
    if (!end || end - p > 255 || end == p) continue;
    char val[256];
    memcpy(val, p, (size_t)(end - p));
    val[end - p] = 0;
    int ok = 1;
    for (const char *c = val; *c; c++) {
      if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.')) ok = 0;
    }
    if (ok) {
      count++;
      if (fn(val) != 0) (*failed)++;
    }
    p = end;
  }
  return count;
}

static int remove_container(const char *id) {
  char path[512];
  int status = 0;
  snprintf(path, sizeof path, "/containers/%s?force=1&v=1", id);
  char *body = http("DELETE", path, &status);
  free(body);
  return status == 204 || status == 404 ? 0 : -1;
}

static int remove_network(const char *id) {
  char path[512];
  int status = 0;
  snprintf(path, sizeof path, "/networks/%s", id);
  char *body = http("DELETE", path, &status);
  free(body);
  return status == 204 || status == 404 ? 0 : -1;
}

static int remove_volume(const char *name) {
  char path[512];
  int status = 0;
  snprintf(path, sizeof path, "/volumes/%s?force=1", name);
  char *body = http("DELETE", path, &status);
  free(body);
  return status == 204 || status == 404 ? 0 : -1;
}

/* One sweep; returns how many objects are still there (or -1 when the engine does not answer). */
static int sweep(const char *filter, const char *self_id) {
  char path[4096];
  int status = 0, failed = 0, seen = 0;
  snprintf(path, sizeof path, "/containers/json?all=1&filters=%s", filter);
  char *body = http("GET", path, &status);
  if (!body || status != 200) {
    free(body);
    return -1;
  }
  /* never ourselves: we carry no owner-link label, but be sure */
  if (self_id && *self_id) {
    for (char *p = strstr(body, self_id); p; p = strstr(p + 1, self_id)) memset(p, 'x', strlen(self_id));
  }
  seen += each_value(body, "Id", remove_container, &failed);
  free(body);
  snprintf(path, sizeof path, "/networks?filters=%s", filter);
  body = http("GET", path, &status);
  if (body && status == 200) seen += each_value(body, "Id", remove_network, &failed);
  free(body);
  snprintf(path, sizeof path, "/volumes?filters=%s", filter);
  body = http("GET", path, &status);
  if (body && status == 200) {
    /* the list is {"Volumes":[{"Name":...}]}: only names of volumes */
    seen += each_value(body, "Name", remove_volume, &failed);
  }
  free(body);
  return failed > 0 || seen > 0 ? seen : 0;
}

int mode_reap(int argc, char **argv) {
  const char *label = NULL;
  int once = 0;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) sock_path = argv[++i];
    else if (strcmp(argv[i], "--label") == 0 && i + 1 < argc) label = argv[++i];
    else if (strcmp(argv[i], "--now") == 0) once = 1;
  }
  if (!label || !strchr(label, '=') || strchr(label, '"') || strchr(label, '\\')) {
    warnf("reap: usage: reap --socket PATH --label KEY=VALUE [--now]");
    return 2;
  }
  /* filters={"label":["KEY=VALUE"]} */
  char json[1024], filter[3072];
  snprintf(json, sizeof json, "{\"label\":[\"%s\"]}", label);
  urlencode(json, filter, sizeof filter);
  if (!once) {
    char buf[4096];
    for (;;) {
      ssize_t r = read(0, buf, sizeof buf);
      if (r == 0) break;
      if (r < 0 && errno != EINTR && errno != EAGAIN) break;
    }
  }
  char self[128] = "";
  gethostname(self, sizeof self - 1);
  /* removals of one round can fail while companions still hold a network; repeat for up to 30 s */
  for (int round = 0; round < 300; round++) {
    int left = sweep(filter, self);
    if (left == 0) {
      printf("warden-reaper: nothing left with %s\n", label);
      return 0;
    }
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  warnf("reap: objects with %s are still there after 30 s", label);
  return 1;
}
