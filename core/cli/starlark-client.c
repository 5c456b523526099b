/*
 * bin/bramble's client for `bramble starlark`: hands the run to the warm Starlark server
 * (core/cli/starlark-server.ts) and relays its output, as Bazel's C++ client hands commands to
 * its server. A node process needs 30 ms to start where python3 needs 15; this client starts
 * in about one. When there is no server, it starts one in the background (for the next run)
 * and runs this one as before: `node bin/bramble-fast.cjs starlark ARGS...` ("batch").
 *
 * usage (from bin/bramble): starlark-client BINDIR starlark ARGS...
 *
 * The socket lives in $XDG_RUNTIME_DIR/bramble (or /tmp/bramble-UID), a directory that must
 * be this user's and closed to everyone else; its name carries the bundle's device, inode,
 * size and time, so a rebuilt or another checkout's bundle gets a server of its own.
 * Frames both ways: a tag byte, the payload's length (4 bytes, little-endian), the payload.
 * Ctrl-C (or SIGTERM, SIGHUP) closes the connection, which cancels the run, and the client
 * dies of the signal; a reader that went away ends it with 0, as closed-pipe.ts ends every
 * printing verb.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

enum { F_REQUEST = 0x52, F_STDOUT = 1, F_STDERR = 2, F_EXIT = 3, F_BATCH = 4, F_ACCEPTED = 5 };
/* A server that has not answered the request by then (stopped, hung) is left: the client runs it. */
enum { ANSWER_MS = 3000 };

static const char *bindir;
static int nargs;
static char **args; /* "starlark" ARGS... */

/* Run it here: node bin/bramble-fast.cjs starlark ARGS... */
static void batch(void) {
  char fast[PATH_MAX];
  snprintf(fast, sizeof fast, "%s/bramble-fast.cjs", bindir);
  char **argv = calloc(nargs + 3, sizeof *argv);
  if (!argv) _exit(70);
  argv[0] = "node";
  argv[1] = fast;
  for (int i = 0; i < nargs; i++) argv[2 + i] = args[i];
  execvp("node", argv);
  fprintf(stderr, "bramble: cannot run node: %s\n", strerror(errno));
  _exit(127);
}

/* The directory for this user's sockets, made if need be; NULL if it is not safely ours. */
static int socket_dir(char *out, size_t n) {
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  if (xdg && xdg[0] == '/') snprintf(out, n, "%s/bramble", xdg);
  else snprintf(out, n, "/tmp/bramble-%u", (unsigned)getuid());
  if (mkdir(out, 0700) != 0 && errno != EEXIST) return -1;
  struct stat st;
  if (lstat(out, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077) != 0) return -1;
  return 0;
}

/*
 * Start `node bin/bramble-fast.cjs __starlark-server SOCKET` in a session of its own, detached:
 * in /, with /dev/null for its standard files and no other file descriptor of this client's.
 * It outlives this run by minutes, and what it inherited it would hold as long: a pipe whose
 * reader waits for its end (`bramble starlark x.star 3>&1 | cat`), a lock (`flock 9` with
 * 9>LOCKFILE), a directory that could not be unmounted.
 */
static void start_server(const char *sock) {
  char bin[PATH_MAX], fast[PATH_MAX + 32];
  if (!realpath(bindir, bin)) return;
  snprintf(fast, sizeof fast, "%s/bramble-fast.cjs", bin);
  pid_t p = fork();
  if (p < 0) return;
  if (p > 0) {
    while (waitpid(p, NULL, 0) < 0 && errno == EINTR) {
    }
    return;
  }
  setsid();
  if (fork() != 0) _exit(0);
  int null = open("/dev/null", O_RDWR);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2) close(null);
  }
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
#endif
  {
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 1 << 20) max = 1 << 20;
    for (int i = 3; i < max; i++) close(i);
  }
  if (chdir("/") != 0) _exit(127);
  execlp("node", "node", fast, "__starlark-server", sock, (char *)NULL);
  _exit(127);
}

static volatile sig_atomic_t caught;
static int conn = -1; /* the connection to the server */

/*
 * Ctrl-C, SIGTERM, SIGHUP: remembered, and the connection shut, which cancels the run and ends
 * at once a read of it that was about to begin (the flag alone would wait for the next frame).
 */
static void on_signal(int sig) {
  caught = sig;
  if (conn >= 0) shutdown(conn, SHUT_RDWR);
}

/*
 * Write all of buf to fd (with send() to the socket: a closed one is EPIPE, not SIGPIPE); 0, or
 * -1 on an error, or once a signal came (a reader that has stopped reading must not keep Ctrl-C
 * from ending the client). A descriptor left non-blocking (a terminal or pipe shared with a
 * program that set O_NONBLOCK) is waited for, as fd-output.ts waits for it in a process of its own.
 */
static int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    if (caught) {
      errno = EINTR;
      return -1;
    }
    ssize_t w = fd == conn ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        poll(&pfd, 1, -1);
        continue;
      }
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Read exactly n bytes; 0 on success, -1 at the end of the stream or an error (or a signal). */
static int read_all(int fd, void *buf, size_t n) {
  char *p = buf;
  while (n > 0) {
    if (caught) return -1;
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: starlark-client BINDIR starlark ARGS...\n");
    return 2;
  }
  bindir = argv[1];
  args = argv + 2;
  nargs = argc - 2;
  const char *env = getenv("BRAMBLE_STARLARK_SERVER");
  if (env && strcmp(env, "0") == 0) batch();
  for (int i = 1; i < nargs; i++) {
    if (strcmp(args[i], "--") == 0) break;
    if (strcmp(args[i], "-batch") == 0 || strcmp(args[i], "--batch") == 0) batch();
  }

  char dir[PATH_MAX - 200], bundle[PATH_MAX], sock[PATH_MAX], cwd[PATH_MAX];
  struct stat st;
  snprintf(bundle, sizeof bundle, "%s/../dist/fast.cjs", bindir);
  if (socket_dir(dir, sizeof dir) != 0 || stat(bundle, &st) != 0 || !getcwd(cwd, sizeof cwd)) batch();
  /*
   * node's options are the server's from its start (NODE_OPTIONS=--max-old-space-size=8192 for
   * a large program): a run with other ones has a server of its own, named by their hash.
   */
  char opts[16] = "";
  const char *nodeopts = getenv("NODE_OPTIONS");
  if (nodeopts && *nodeopts) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)nodeopts; *c; c++) h = (h ^ *c) * 16777619u;
    snprintf(opts, sizeof opts, "-o%08x", (unsigned)h);
  }
  snprintf(sock, sizeof sock, "%s/starlark-%llx-%llx-%llx-%lld.%09ld%s.sock", dir, (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
           (unsigned long long)st.st_size, (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec, opts);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(sock) >= sizeof addr.sun_path) batch();
  strcpy(addr.sun_path, sock);

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) batch();
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    int e = errno;
    close(fd);
    if (e == ENOENT || e == ECONNREFUSED) start_server(sock);
    batch();
  }
  /*
   * The server must be this user's: the directory is checked above, but one whose parent
   * another user may write ($XDG_RUNTIME_DIR kept through su) can be swapped for theirs
   * between that check and connect(), and their server would write to this terminal.
   */
  struct ucred peer;
  socklen_t peerlen = sizeof peer;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &peerlen) != 0 || peer.uid != getuid()) {
    close(fd);
    batch();
  }
  conn = fd;

  /*
   * Where this client stands, which the server compares with what it sees: its mount
   * namespace, and the device and inode of / and of the working directory. A client in a
   * container, a chroot or another mount namespace that shares the socket directory (or a
   * directory renamed since getcwd()) would otherwise have the server read another file by
   * the same name.
   */
  char ns[64] = "", place[160];
  ssize_t nsl = readlink("/proc/self/ns/mnt", ns, sizeof ns - 1);
  ns[nsl > 0 ? nsl : 0] = 0;
  struct stat rootst, cwdst;
  if (stat("/", &rootst) != 0 || stat(".", &cwdst) != 0) batch();
  snprintf(place, sizeof place, "%s %llu:%llu %llu:%llu", ns, (unsigned long long)rootst.st_dev, (unsigned long long)rootst.st_ino,
           (unsigned long long)cwdst.st_dev, (unsigned long long)cwdst.st_ino);

  /* the request: "2" NUL cwd NUL flags NUL place NUL args... (after "starlark") */
  size_t len = 2 + strlen(cwd) + 1 + 2 + strlen(place) + 1;
  for (int i = 1; i < nargs; i++) len += strlen(args[i]) + 1;
  if (len > 1 << 20) batch(); /* more than the server reads */
  char *req = malloc(5 + len);
  if (!req) batch();
  char *p = req + 5;
  p += sprintf(p, "2") + 1;
  p += sprintf(p, "%s", cwd) + 1;
  p += sprintf(p, "%s", isatty(1) ? "t" : "-") + 1;
  p += sprintf(p, "%s", place) + 1;
  for (int i = 1; i < nargs; i++) p += sprintf(p, "%s", args[i]) + 1;
  len = (size_t)(p - (req + 5)) - 1; /* no NUL after the last field */
  req[0] = F_REQUEST;
  uint32_t l32 = (uint32_t)len;
  memcpy(req + 1, &l32, 4); /* little-endian: x86-64 and aarch64 */
  if (write_all(fd, req, 5 + len) != 0) {
    close(fd);
    batch();
  }
  free(req);

  struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: a signal ends the read */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  int output = 0; /* any output relayed yet? */
  char *buf = NULL;
  size_t cap = 0;
  /* The first frame (ACCEPTED, or BATCH) comes at once from a server that is alive; one that
   * says nothing is stopped or hung, and waiting on it would hang this command for good. */
  for (;;) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r = poll(&pfd, 1, ANSWER_MS);
    if (r < 0 && errno == EINTR && !caught) continue;
    if (r == 0 && !caught) {
      conn = -1;
      close(fd);
      batch();
    }
    break;
  }
  for (;;) {
    unsigned char h[5];
    if (read_all(fd, h, 5) != 0) break;
    uint32_t n;
    memcpy(&n, h + 1, 4);
    if (n > cap) {
      buf = realloc(buf, n);
      if (!buf) _exit(70);
      cap = n;
    }
    if (read_all(fd, buf, n) != 0) break;
    if (h[0] == F_STDOUT || h[0] == F_STDERR) {
      output = 1;
      if (write_all(h[0], buf, n) != 0) {
        if (caught) break;
        if (errno == EPIPE) _exit(0); /* the reader went away: done */
        if (h[0] == F_STDOUT) fprintf(stderr, "bramble starlark: writing standard output: %s\n", strerror(errno));
        _exit(1);
      }
    } else if (h[0] == F_EXIT && n == 4) {
      uint32_t code;
      memcpy(&code, buf, 4);
      return (int)(code & 0xff);
    } else if (h[0] == F_ACCEPTED) {
      continue;
    } else if (h[0] == F_BATCH) {
      conn = -1;
      close(fd);
      batch();
    }
  }
  conn = -1;
  close(fd);
  if (caught) {
    signal(caught, SIG_DFL);
    raise(caught);
  }
  /* The server went away before the run's end: nothing shown yet, so run it here; else say so. */
  if (!output) batch();
  fprintf(stderr, "bramble starlark: the Starlark server stopped before the program's end\n");
  return 70;
}
