/*
 * store-view-helper [--merge-stderr] [--cgroup PROCS] [--view VIEW | --overlay ROOT] -- COMMAND [ARG...]
 * store-view-helper VIEW COMMAND [ARG...]   (the same as --view VIEW --)
 *
 * What a build's sandbox is started through (core/builders/sandbox.ts), one small static
 * program instead of a chain of shells (each exec in the chain cost a build milliseconds, and
 * many more on a loaded machine):
 *   --merge-stderr  fd 2 becomes fd 1 (the build log keeps the order things were written in);
 *   --cgroup PROCS  this process joins the pids cgroup whose cgroup.procs file is PROCS, before
 *                   anything else runs, so everything the build starts is counted and drained;
 *   --view VIEW     what core/builders/store-view.ts's perl helper does: mount VIEW over itself
 *                   through an idmapped mount whose map swaps root and nobody, in a private mount
 *                   namespace of its own;
 *   --overlay ROOT  the same for ROOT/view, then an overlay mounted at ROOT/store (no suid, no
 *                   devices) whose lower layer is that idmapped view and whose upper layer is
 *                   ROOT/upper (work directory ROOT/work): what the builder writes lands in
 *                   ROOT/upper, and the view itself is never changed (the next build reuses it
 *                   without looking through it);
 * then exec COMMAND (the sandbox).
 *
 * store-view-helper --serve: a launcher that stays (core/builders/launcher.ts). Node's spawn
 * forks the whole Node process, which costs milliseconds per build and grows with its heap;
 * this small process forks instead. Requests on stdin, each a little-endian u32 length and then
 * a u32 id and NUL-terminated arguments as above (without the program name); for each it starts
 * a child in a session of its own, fd 0 /dev/null and fds 1 and 2 one pipe, and answers on
 * stdout with frames (u8 type, u32 id, u32 length, data): 'S' started (u32 pid), 'O' output,
 * 'X' exited (u32 wait status), once its output has ended too. At end of input it kills every
 * child's process group and exits. Built by scripts/build.mjs when a C compiler is there
 * (dist/store-view-helper); without it the perl helper and shells do the same.
 * Exit code 125 and a message on stderr when a step fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

struct mount_attr_v0 {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

static void fail(const char *what) {
  fprintf(stderr, "bramble store view: %s: %s\n", what, strerror(errno));
  exit(125);
}

static void write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) fail(path);
  close(fd);
}

static void usage(void) {
  fprintf(stderr, "usage: store-view-helper [--merge-stderr] [--cgroup PROCS] [--view VIEW | --overlay ROOT] -- COMMAND [ARG...]\n");
  exit(125);
}

/* Mount VIEW over itself, idmapped root<->nobody, in a new private mount namespace. */
static void idmap_view(const char *view);
static int run(int argc, char **argv);

static void serve(void);

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--serve") == 0) serve();
  return run(argc, argv);
}

/* One start: parse the options, apply them, exec the command (returns only on a usage error). */
static int run(int argc, char **argv) {
  const char *view = NULL, *cgroup = NULL, *overlay = NULL;
  int merge = 0, i = 1;
  if (argc > 1 && strncmp(argv[1], "--", 2) != 0) {
    view = argv[1]; /* the positional form: VIEW COMMAND... */
    i = 2;
  } else {
    for (; i < argc; i++) {
      if (strcmp(argv[i], "--") == 0) {
        i++;
        break;
      } else if (strcmp(argv[i], "--merge-stderr") == 0) {
        merge = 1;
      } else if (strcmp(argv[i], "--cgroup") == 0 && i + 1 < argc) {
        cgroup = argv[++i];
      } else if (strcmp(argv[i], "--view") == 0 && i + 1 < argc) {
        view = argv[++i];
      } else if (strcmp(argv[i], "--overlay") == 0 && i + 1 < argc) {
        overlay = argv[++i];
      } else {
        usage();
      }
    }
  }
  if (i >= argc || (view && overlay)) usage();
  if (merge && dup2(1, 2) < 0) fail("stderr");
  if (cgroup) {
    char pid[32];
    snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    write_file(cgroup, pid);
  }
  if (view) idmap_view(view);
  if (overlay) {
    /* Relative paths from ROOT: the mount options need no escaping whatever ROOT is called. */
    int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cwd < 0 || chdir(overlay) < 0) fail("overlay root");
    idmap_view("view");
    /* volatile: no sync of the upper layer's filesystem when the overlay goes (a fresh upper
       per build, moved into the store after; on ext4 that sync cost 13-18 ms per build). */
    if (mount("overlay", "store", "overlay", MS_NOSUID | MS_NODEV, "lowerdir=view,upperdir=upper,workdir=work,index=off,metacopy=off,redirect_dir=off,xino=off,volatile") <
        0)
      fail("overlay");
    if (fchdir(cwd) < 0) fail("overlay root");
    close(cwd);
  }
  execvp(argv[i], argv + i);
  fail(argv[i]);
  return 125;
}

static void idmap_view(const char *view) {
  /* A child makes the user namespace whose map the mount will use; it waits on a pipe until
     its namespace has been opened, then exits. */
  int ready[2], done[2];
  if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(done, O_CLOEXEC) < 0) fail("pipe");
  pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    char b = 0;
    close(ready[0]);
    close(done[1]);
    if (unshare(CLONE_NEWUSER) < 0) _exit(1);
    if (write(ready[1], "1", 1) != 1) _exit(1);
    if (read(done[0], &b, 1) < 0) _exit(1);
    _exit(0);
  }
  close(ready[1]);
  close(done[0]);
  char b;
  if (read(ready[0], &b, 1) != 1) {
    errno = EPERM;
    fail("user namespace");
  }
  char path[64];
  const char *map = "0 65534 1\n65534 0 1\n";
  snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
  write_file(path, map);
  snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
  write_file(path, map);
  snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
  int ns = open(path, O_RDONLY | O_CLOEXEC);
  if (ns < 0) fail("user namespace fd");
  close(done[1]);
  waitpid(pid, NULL, 0);

  if (unshare(CLONE_NEWNS) < 0) fail("mount namespace");
  struct mount_attr_v0 priv = {0, 0, 1 << 18 /* MS_PRIVATE */, 0};
  if (syscall(SYS_mount_setattr, AT_FDCWD, "/", 0x8000 /* AT_RECURSIVE */, &priv, sizeof priv) < 0) fail("private mounts");
  int fd = (int)syscall(SYS_open_tree, AT_FDCWD, view, 1 /* OPEN_TREE_CLONE */ | O_CLOEXEC);
  if (fd < 0) fail("open_tree");
  struct mount_attr_v0 idmap = {0x00100000 /* MOUNT_ATTR_IDMAP */, 0, 0, (uint64_t)ns};
  if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &idmap, sizeof idmap) < 0) fail("idmapped mount");
  if (syscall(SYS_move_mount, fd, "", AT_FDCWD, view, 4 /* MOVE_MOUNT_F_EMPTY_PATH */) < 0) fail("move_mount");
  close(fd);
  close(ns);
}

/* ---- --serve ---- */

struct child {
  uint32_t id;
  pid_t pid;
  int out; /* read end of its output pipe, -1 once at its end */
  int exited;
  int status;
};

static struct child *kids;
static size_t nkids, capkids;
static int sigpipe_w = -1;

static void on_sigchld(int sig) {
  (void)sig;
  int e = errno;
  if (write(sigpipe_w, "c", 1) < 0) { /* the pipe is full: a wake-up is pending anyway */
  }
  errno = e;
}

static void put_all(const void *buf, size_t n) {
  const char *p = buf;
  while (n) {
    ssize_t w = write(1, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(1); /* Node is gone */
    p += w;
    n -= (size_t)w;
  }
}

static void frame(char type, uint32_t id, const void *data, uint32_t len) {
  unsigned char h[9];
  h[0] = (unsigned char)type;
  memcpy(h + 1, &id, 4);
  memcpy(h + 5, &len, 4);
  put_all(h, 9);
  if (len) put_all(data, len);
}

static void start(const unsigned char *req, uint32_t len) {
  uint32_t id;
  if (len < 4) return;
  memcpy(&id, req, 4);
  /* The arguments: NUL-terminated strings after the id. */
  size_t argc = 1;
  for (uint32_t i = 4; i < len; i++) argc += req[i] == 0;
  char **argv = calloc(argc + 1, sizeof *argv);
  char *copy = malloc(len - 4 + 1);
  if (!argv || !copy) _exit(1);
  memcpy(copy, req + 4, len - 4);
  copy[len - 4] = 0;
  argv[0] = "store-view-helper";
  size_t k = 1;
  for (uint32_t i = 0; i < len - 4 && k < argc; k++) {
    argv[k] = copy + i;
    i += (uint32_t)strlen(copy + i) + 1;
  }
  argv[k] = NULL;
  int out[2];
  if (pipe2(out, O_CLOEXEC) < 0) {
    const char *m = "pipe";
    frame('F', id, m, (uint32_t)strlen(m));
    free(argv);
    free(copy);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    setsid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0) _exit(125);
    run((int)k, argv);
    _exit(125);
  }
  close(out[1]);
  free(argv);
  free(copy);
  if (pid < 0) {
    close(out[0]);
    const char *m = "fork";
    frame('F', id, m, (uint32_t)strlen(m));
    return;
  }
  if (nkids == capkids) {
    capkids = capkids ? capkids * 2 : 8;
    kids = realloc(kids, capkids * sizeof *kids);
    if (!kids) _exit(1);
  }
  kids[nkids++] = (struct child){id, pid, out[0], 0, 0};
  uint32_t p32 = (uint32_t)pid;
  frame('S', id, &p32, 4);
}

static void serve(void) {
  int sp[2];
  if (pipe2(sp, O_CLOEXEC | O_NONBLOCK) < 0) fail("pipe");
  sigpipe_w = sp[1];
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  unsigned char *in = NULL;
  size_t have = 0, cap = 0;
  int input_open = 1;
  unsigned char buf[65536];
  for (;;) {
    size_t n = 0;
    struct pollfd *fds = calloc(nkids + 2, sizeof *fds);
    if (!fds) _exit(1);
    fds[n++] = (struct pollfd){input_open ? 0 : -1, POLLIN, 0};
    fds[n++] = (struct pollfd){sp[0], POLLIN, 0};
    for (size_t i = 0; i < nkids; i++) fds[n++] = (struct pollfd){kids[i].out, POLLIN, 0};
    if (poll(fds, n, -1) < 0 && errno != EINTR) _exit(1);
    if (fds[0].revents) {
      ssize_t r = read(0, buf, sizeof buf);
      if (r <= 0 && !(r < 0 && errno == EINTR)) {
        /* Node has gone: nothing it started may outlive it. */
        for (size_t i = 0; i < nkids; i++)
          if (!kids[i].exited) kill(-kids[i].pid, SIGKILL);
        _exit(0);
      }
      if (r > 0) {
        if (have + (size_t)r > cap) {
          cap = (have + (size_t)r) * 2;
          in = realloc(in, cap);
          if (!in) _exit(1);
        }
        memcpy(in + have, buf, (size_t)r);
        have += (size_t)r;
        size_t off = 0;
        while (have - off >= 4) {
          uint32_t len;
          memcpy(&len, in + off, 4);
          if (have - off - 4 < len) break;
          start(in + off + 4, len);
          off += 4 + len;
        }
        memmove(in, in + off, have - off);
        have -= off;
      }
    }
    if (fds[1].revents) {
      while (read(sp[0], buf, sizeof buf) > 0) {
      }
    }
    for (size_t i = 0; i < nkids; i++) {
      short ev = fds[2 + i].revents;
      if (!ev || kids[i].out < 0) continue;
      ssize_t r = read(kids[i].out, buf, sizeof buf);
      if (r > 0) frame('O', kids[i].id, buf, (uint32_t)r);
      else if (r == 0 || errno != EINTR) {
        close(kids[i].out);
        kids[i].out = -1;
      }
    }
    free(fds);
    /* Reap, and report a child once it has exited and its output has ended. */
    for (;;) {
      int status;
      pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      for (size_t i = 0; i < nkids; i++)
        if (kids[i].pid == pid) {
          kids[i].exited = 1;
          kids[i].status = status;
        }
    }
    for (size_t i = 0; i < nkids;) {
      if (kids[i].exited && kids[i].out < 0) {
        uint32_t st = (uint32_t)kids[i].status;
        frame('X', kids[i].id, &st, 4);
        kids[i] = kids[--nkids];
      } else {
        i++;
      }
    }
  }
}
