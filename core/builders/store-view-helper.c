/*
 * store-view-helper [--merge-stderr] [--keep-fds N] [--cgroup PROCS] [--netns] [--view VIEW | --overlay ROOT] -- COMMAND [ARG...]
 * store-view-helper VIEW COMMAND [ARG...]   (the same as --view VIEW --)
 *
 * What a build's sandbox is started through (core/builders/sandbox.ts), one small static
 * program instead of a chain of shells (each exec in the chain cost a build milliseconds, and
 * many more on a loaded machine):
 *   --merge-stderr  fd 2 becomes fd 1 (the build log keeps the order things were written in);
 *   --keep-fds N    fds 3 to 2+N are the sandbox's (bwrap's sync pipes); every other one above 2
 *                   closes on exec (without it: all of them), so nothing bramble inherited leaks in;
 *   --cgroup PROCS  this process joins the pids cgroup whose cgroup.procs file is PROCS, before
 *                   anything else runs, so everything the build starts is counted and drained;
 *   --netns         a network namespace of its own, made as root in this user namespace, with
 *                   only its loopback, up (the kernel gives lo 127.0.0.1 and ::1 when it comes
 *                   up); the sandbox is then started without a network namespace of its own
 *                   (core/builders/sandbox.ts helperNetwork): bwrap's costs 2 ms more per build,
 *                   and its netlink set-up of lo is where "loopback: Failed RTM_NEWADDR" came from;
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
 * child's process group and exits.
 *
 * Spares. A request `--prepare --cgroup PROCS [--netns]` forks a spare child that does ahead of
 * time what does not depend on the build: it joins the cgroup PROCS (on cgroup v1 a migration
 * waits for an RCU grace period unless another came shortly before: 7-15 ms when builds are
 * 30 ms or more apart) and makes its network namespace if asked; then it waits on a pipe (its
 * mount namespace is made after: a copy made early would miss what was mounted since). A later
 * request whose --cgroup is PROCS (and that asks --netns the same) is handed to it: it does only
 * what depends on the request (the view's idmapped mount, the overlay, exec). A request for any
 * other cgroup never reaches it. What a spare could not prepare it does again as a fresh child
 * would (and fails as that one would); a spare that died is replaced by a fresh child. A spare
 * dies with the launcher (PR_SET_PDEATHSIG, and the end of its pipe), and `--drop-spares` kills
 * them all; at the end of its input the launcher kills them, waits for them and removes their
 * (then empty) cgroups. The user namespace whose map the idmapped mounts use is made once per
 * launcher (it holds no process, only its map).
 *
 * Keeping cgroup moves quick. Every move into a cgroup takes the kernel's
 * cgroup_threadgroup_rwsem for writing, which waits for an RCU grace period (7-15 ms here)
 * unless another writer came within about 10 ms. Builds 10-15 ms apart are just too far apart:
 * the first 40 builds of a chain took 13 ms each to run, then 7 once they came close enough to
 * keep each other's moves quick. While builds come (100 ms after the last request or exit),
 * the launcher moves itself into its own cgroup every 5 ms (keep_moves_quick): a move that
 * changes nothing, but takes that lock, so the spares' moves find it quick.
 *
 * Built by scripts/build.mjs when a C compiler is there (dist/store-view-helper); without it the
 * perl helper and shells do the same.
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
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
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

static void usage(void) {
  fprintf(stderr, "usage: store-view-helper [--merge-stderr] [--keep-fds N] [--cgroup PROCS] [--netns] [--view VIEW | --overlay ROOT] -- COMMAND [ARG...]\n");
  exit(125);
}

/* Mount VIEW over itself, idmapped root<->nobody, in a new private mount namespace. */
static void idmap_view(const char *view);
static int run(int argc, char **argv);

/* What this process has already done (a spare does it before its request comes). */
static const char *joined_cgroup; /* the cgroup.procs it has joined */
static int have_netns;            /* in a network namespace of its own, lo up */
static int userns_fd = -1;        /* a user namespace mapping root<->nobody, for idmapped mounts */

/* Every descriptor from `first` on closes on exec (close_range, Linux 5.11+; older kernels: each
   open one, as /proc/self/fd lists them). */
static void cloexec_from(int first) {
  if (syscall(436 /* SYS_close_range */, (unsigned)first, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) == 0) return;
  for (int fd = first; fd < 1024; fd++) {
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0 && !(fl & FD_CLOEXEC)) fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
  }
}

static int try_write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t w = write(fd, text, strlen(text));
  int e = errno;
  close(fd);
  errno = e;
  return w == (ssize_t)strlen(text) ? 0 : -1;
}

static int join_cgroup(const char *procs) {
  char pid[32];
  snprintf(pid, sizeof pid, "%d\n", (int)getpid());
  return try_write_file(procs, pid);
}

/* A new network namespace whose loopback is up: 0, or -1 with errno. */
static int make_netns(void) {
  if (unshare(CLONE_NEWNET) < 0) return -1;
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  int r = ioctl(s, SIOCGIFFLAGS, &ifr);
  if (r == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    r = ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  int e = errno;
  close(s);
  errno = e;
  return r;
}

static int make_mntns(void) {
  if (unshare(CLONE_NEWNS) < 0) return -1;
  struct mount_attr_v0 priv = {0, 0, 1 << 18 /* MS_PRIVATE */, 0};
  return (int)syscall(SYS_mount_setattr, AT_FDCWD, "/", 0x8000 /* AT_RECURSIVE */, &priv, sizeof priv);
}

/* A user namespace mapping root<->nobody, held by fd: made by a child, which waits on a pipe
   until its namespace has been opened, then exits. -1 with errno when it cannot be made. */
static int make_userns(void) {
  int ready[2], done[2];
  if (pipe2(ready, O_CLOEXEC) < 0) return -1;
  if (pipe2(done, O_CLOEXEC) < 0) {
    close(ready[0]);
    close(ready[1]);
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) return -1;
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
  char b, path[64];
  int ns = -1;
  const char *map = "0 65534 1\n65534 0 1\n";
  if (read(ready[0], &b, 1) == 1) {
    snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
    int ok = try_write_file(path, map) == 0;
    snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
    ok = ok && try_write_file(path, map) == 0;
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
    if (ok) ns = open(path, O_RDONLY | O_CLOEXEC);
  } else {
    errno = EPERM;
  }
  int e = errno;
  close(ready[0]);
  close(done[1]);
  waitpid(pid, NULL, 0);
  errno = e;
  return ns;
}

static void serve(void);

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--serve") == 0) serve();
  return run(argc, argv);
}

/* One start: parse the options, apply them, exec the command (returns only on a usage error). */
static int run(int argc, char **argv) {
  const char *view = NULL, *cgroup = NULL, *overlay = NULL;
  int merge = 0, netns = 0, keep = 0, i = 1;
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
      } else if (strcmp(argv[i], "--netns") == 0) {
        netns = 1;
      } else if (strcmp(argv[i], "--keep-fds") == 0 && i + 1 < argc) {
        keep = atoi(argv[++i]);
        if (keep < 0 || keep > 64) usage();
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
  /* Descriptors above 2 that were not given on purpose (--keep-fds: the next ones) close on
     exec: what bramble's own parent left open, a pipe or a file, must not reach the build. */
  cloexec_from(3 + keep);
  if (cgroup) {
    /* A spare has joined its cgroup already, and serves no request for another (serve()). */
    if (joined_cgroup && strcmp(joined_cgroup, cgroup) != 0) {
      errno = EINVAL;
      fail("a spare of another cgroup");
    }
    if (!joined_cgroup && join_cgroup(cgroup) < 0) fail(cgroup);
  }
  if (netns && !have_netns && make_netns() < 0) fail("network namespace");
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
  int ns = userns_fd >= 0 ? userns_fd : make_userns();
  if (ns < 0) fail("user namespace");
  if (make_mntns() < 0) fail("mount namespace");
  int fd = (int)syscall(SYS_open_tree, AT_FDCWD, view, 1 /* OPEN_TREE_CLONE */ | O_CLOEXEC);
  if (fd < 0) fail("open_tree");
  struct mount_attr_v0 idmap = {0x00100000 /* MOUNT_ATTR_IDMAP */, 0, 0, (uint64_t)ns};
  if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &idmap, sizeof idmap) < 0) fail("idmapped mount");
  if (syscall(SYS_move_mount, fd, "", AT_FDCWD, view, 4 /* MOVE_MOUNT_F_EMPTY_PATH */) < 0) fail("move_mount");
  close(fd);
  if (ns != userns_fd) close(ns);
}

/* ---- --serve ---- */

struct child {
  uint32_t id;
  pid_t pid;
  int out; /* read end of its output pipe, -1 once at its end */
  int exited;
  int status;
};

/* A spare: a child prepared for the next build in cgroup `procs` (see the top of this file). */
struct spare {
  char *procs;
  int netns;
  pid_t pid;
  int req; /* write end of the pipe its request comes through */
  int out; /* read end of its output pipe */
};

static struct child *kids;
static size_t nkids, capkids;
static struct spare *spares;
static size_t nspares, capspares;
static int sigpipe_r = -1, sigpipe_w = -1;
static pid_t launcher_pid;
#define MAX_SPARES 16

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

/* NUL-terminated arguments (a request after its id) as an argv whose [0] is the program: the
   count in *argc; the strings live in one allocation at argv[argc + 1]. */
static char **parse_args(const unsigned char *p, uint32_t len, int *argc) {
  size_t n = 1;
  for (uint32_t i = 0; i < len; i++) n += p[i] == 0;
  char **argv = calloc(n + 2, sizeof *argv);
  char *copy = malloc((size_t)len + 1);
  if (!argv || !copy) _exit(1);
  memcpy(copy, p, len);
  copy[len] = 0;
  argv[0] = "store-view-helper";
  size_t k = 1;
  for (uint32_t i = 0; i < len && k < n; k++) {
    argv[k] = copy + i;
    i += (uint32_t)strlen(copy + i) + 1;
  }
  argv[k] = NULL;
  argv[k + 1] = copy;
  *argc = (int)k;
  return argv;
}

static void free_args(char **argv, int argc) {
  free(argv[argc + 1]);
  free(argv);
}

/* The options before "--" that a spare must match: --cgroup's value and --netns. */
static const char *option_cgroup(char **argv, int argc, int *netns) {
  const char *cgroup = NULL;
  *netns = 0;
  if (argc < 2 || strncmp(argv[1], "--", 2) != 0) return NULL; /* the positional form: VIEW COMMAND... */
  for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (strcmp(argv[i], "--cgroup") == 0 && i + 1 < argc) cgroup = argv[++i];
    else if (strcmp(argv[i], "--netns") == 0) *netns = 1;
    else if (strcmp(argv[i], "--view") == 0 || strcmp(argv[i], "--overlay") == 0 || strcmp(argv[i], "--keep-fds") == 0) i++;
  }
  return cgroup;
}

static void drop_spare(size_t i, int kill_it) {
  if (kill_it) kill(-spares[i].pid, SIGKILL);
  close(spares[i].req);
  close(spares[i].out);
  free(spares[i].procs);
  spares[i] = spares[--nspares];
}

/* fork(), the child leading a session (and so a process group) of its own before the parent
   returns: Node kills a build by that group as soon as the launcher reports the pid, and a
   cancel that came before the child's setsid() found no such group and killed nothing (the
   build ran on to its end: test/engine/scheduler.test.ts's cancelled `sleep 60`). */
static pid_t fork_leader(void) {
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) < 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(ready[0]);
    setsid();
    if (write(ready[1], "1", 1) < 0) { /* the launcher is gone: PR_SET_PDEATHSIG ends this */
    }
    close(ready[1]);
    return 0;
  }
  close(ready[1]);
  if (pid > 0) {
    char b;
    while (read(ready[0], &b, 1) < 0 && errno == EINTR) {
    }
  }
  close(ready[0]);
  return pid;
}

/* In a child of the launcher: what every child starts with. */
static void child_setup(int out_w) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
  /* (a session and process group of its own: fork_leader) */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != launcher_pid) _exit(125); /* the launcher died before the line above */
  /* The launcher's other pipes (all close-on-exec, but a spare waits long before its exec). */
  for (size_t i = 0; i < nkids; i++)
    if (kids[i].out >= 0) close(kids[i].out);
  for (size_t i = 0; i < nspares; i++) {
    close(spares[i].req);
    close(spares[i].out);
  }
  close(sigpipe_r);
  close(sigpipe_w);
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null < 0 || dup2(null, 0) < 0 || dup2(out_w, 1) < 0 || dup2(out_w, 2) < 0) _exit(125);
}

static ssize_t read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

/* A spare's life: prepare what it can (what fails is done again, or fails, as a fresh child
   would), wait for its request, run it. The end of its pipe (no request will come) ends it. */
static void spare_main(char *procs, int netns, int req) {
  if (join_cgroup(procs) == 0) joined_cgroup = procs;
  if (netns && make_netns() == 0) have_netns = 1;
  uint32_t len;
  if (read_full(req, &len, 4) != 4) _exit(0);
  unsigned char *body = malloc((size_t)len + 1);
  if (!body || read_full(req, body, len) != (ssize_t)len) _exit(125);
  close(req);
  int argc;
  char **argv = parse_args(body, len, &argc);
  run(argc, argv);
  _exit(125);
}

static void prepare(char **argv, int argc) {
  int netns;
  const char *procs = option_cgroup(argv, argc, &netns);
  if (!procs || nspares >= MAX_SPARES) return;
  for (size_t i = 0; i < nspares; i++)
    if (strcmp(spares[i].procs, procs) == 0) return;
  int out[2], req[2];
  if (pipe2(out, O_CLOEXEC) < 0) return;
  if (pipe2(req, O_CLOEXEC) < 0) {
    close(out[0]);
    close(out[1]);
    return;
  }
  char *copy = strdup(procs);
  pid_t pid = copy ? fork_leader() : -1;
  if (pid == 0) {
    close(out[0]);
    close(req[1]);
    child_setup(out[1]);
    spare_main(copy, netns, req[0]);
  }
  close(out[1]);
  close(req[0]);
  if (pid < 0) {
    free(copy);
    close(out[0]);
    close(req[1]);
    return;
  }
  /* The request is written without waiting (a spare still preparing reads it after). */
  fcntl(req[1], F_SETFL, O_NONBLOCK);
  if (nspares == capspares) {
    capspares = capspares ? capspares * 2 : 4;
    spares = realloc(spares, capspares * sizeof *spares);
    if (!spares) _exit(1);
  }
  spares[nspares++] = (struct spare){copy, netns, pid, req[1], out[0]};
}

/* Hand a request to the spare prepared for its cgroup: its pid, or 0 (none, or it is gone). */
static pid_t hand_to_spare(char **argv, int argc, const unsigned char *body, uint32_t len, int *out) {
  int netns;
  const char *procs = option_cgroup(argv, argc, &netns);
  if (!procs) return 0;
  for (size_t i = 0; i < nspares; i++) {
    if (strcmp(spares[i].procs, procs) != 0) continue;
    /* Prepared otherwise than asked: it would only sit in the build's cgroup. */
    if (spares[i].netns != netns) {
      drop_spare(i, 1);
      return 0;
    }
    size_t need = 4 + (size_t)len;
    int cap = fcntl(spares[i].req, F_GETPIPE_SZ);
    if (cap >= 0 && (size_t)cap < need) cap = fcntl(spares[i].req, F_SETPIPE_SZ, (int)need);
    unsigned char *msg = malloc(need);
    if (!msg) _exit(1);
    memcpy(msg, &len, 4);
    memcpy(msg + 4, body, len);
    ssize_t w = cap >= 0 && (size_t)cap >= need ? write(spares[i].req, msg, need) : -1;
    free(msg);
    if (w != (ssize_t)need) {
      drop_spare(i, 1); /* dead, or the request does not fit: a fresh child serves it */
      return 0;
    }
    pid_t pid = spares[i].pid;
    *out = spares[i].out;
    spares[i].out = -1;
    close(spares[i].req);
    free(spares[i].procs);
    spares[i] = spares[--nspares];
    return pid;
  }
  return 0;
}

static void add_kid(uint32_t id, pid_t pid, int out) {
  if (nkids == capkids) {
    capkids = capkids ? capkids * 2 : 8;
    kids = realloc(kids, capkids * sizeof *kids);
    if (!kids) _exit(1);
  }
  kids[nkids++] = (struct child){id, pid, out, 0, 0};
  uint32_t p32 = (uint32_t)pid;
  frame('S', id, &p32, 4);
}

static void start(const unsigned char *req, uint32_t len) {
  uint32_t id;
  if (len < 4) return;
  memcpy(&id, req, 4);
  int argc;
  char **argv = parse_args(req + 4, len - 4, &argc);
  if (argc >= 2 && strcmp(argv[1], "--prepare") == 0) {
    prepare(argv + 1, argc - 1);
    free_args(argv, argc);
    return;
  }
  if (argc == 2 && strcmp(argv[1], "--drop-spares") == 0) {
    while (nspares) drop_spare(0, 1);
    free_args(argv, argc);
    return;
  }
  int spare_out = -1;
  pid_t pid = hand_to_spare(argv, argc, req + 4, len - 4, &spare_out);
  if (pid > 0) {
    free_args(argv, argc);
    add_kid(id, pid, spare_out);
    return;
  }
  int out[2];
  if (pipe2(out, O_CLOEXEC) < 0) {
    const char *m = "pipe";
    frame('F', id, m, (uint32_t)strlen(m));
    free_args(argv, argc);
    return;
  }
  pid = fork_leader();
  if (pid == 0) {
    close(out[0]);
    child_setup(out[1]);
    run(argc, argv);
    _exit(125);
  }
  close(out[1]);
  free_args(argv, argc);
  if (pid < 0) {
    close(out[0]);
    const char *m = "fork";
    frame('F', id, m, (uint32_t)strlen(m));
    return;
  }
  add_kid(id, pid, out[0]);
}

/* This process's own cgroup.procs in the pids hierarchy (v1) or the unified one (v2), or NULL. */
static char *own_procs(void) {
  FILE *f = fopen("/proc/self/cgroup", "r");
  if (!f) return NULL;
  char line[4096], *found = NULL;
  while (!found && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
    if (!b) continue;
    const char *base = NULL;
    if (strncmp(a + 1, "pids:", 5) == 0) base = "/sys/fs/cgroup/pids";
    else if (strncmp(line, "0::", 3) == 0 && access("/sys/fs/cgroup/pids", F_OK) != 0) base = "/sys/fs/cgroup";
    if (!base) continue;
    size_t n = strlen(base) + strlen(b + 1) + sizeof "/cgroup.procs";
    found = malloc(n);
    if (found) snprintf(found, n, "%s%s/cgroup.procs", base, strcmp(b + 1, "/") == 0 ? "" : b + 1);
  }
  fclose(f);
  return found;
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* See "Keeping cgroup moves quick" above: a move of this process into its own cgroup. */
static char *procs_self;
static double last_move;
static void keep_moves_quick(double now) {
  if (!procs_self || now - last_move < 5) return;
  last_move = now;
  int fd = open(procs_self, O_WRONLY | O_CLOEXEC);
  char pid[16];
  int n = snprintf(pid, sizeof pid, "%d", (int)launcher_pid);
  if (fd < 0 || write(fd, pid, (size_t)n) != n) {
    free(procs_self); /* not allowed here: never again */
    procs_self = NULL;
  }
  if (fd >= 0) close(fd);
}

static void serve(void) {
  launcher_pid = getpid();
  const char *keeper = getenv("BRAMBLE_LAUNCHER_KEEPER"); /* "0": off, to compare */
  if (getuid() == 0 && !(keeper && strcmp(keeper, "0") == 0)) procs_self = own_procs();
  double busy_until = 0; /* builds are coming until then (ms) */
  cloexec_from(3); /* nothing Node's own parent left open reaches a child */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  /* One user namespace for every idmapped mount (root only; else each child tries its own). */
  if (getuid() == 0) userns_fd = make_userns();
  int sp[2];
  if (pipe2(sp, O_CLOEXEC | O_NONBLOCK) < 0) fail("pipe");
  sigpipe_r = sp[0];
  sigpipe_w = sp[1];
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);
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
    double t = now_ms();
    int timeout = -1;
    if (procs_self && t < busy_until) {
      keep_moves_quick(t);
      timeout = (int)(last_move + 5 - t) + 1;
    }
    int polled = poll(fds, n, timeout);
    if (polled < 0 && errno != EINTR) _exit(1);
    if (polled != 0) busy_until = now_ms() + 100;
    /* Output first: a request below can change the list of children. */
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
    if (fds[0].revents) {
      ssize_t r = read(0, buf, sizeof buf);
      if (r <= 0 && !(r < 0 && errno == EINTR)) {
        /* Node has gone: nothing it started may outlive it. */
        for (size_t i = 0; i < nkids; i++)
          if (!kids[i].exited) kill(-kids[i].pid, SIGKILL);
        /* A spare's cgroup was Node's next build's: empty once the spare is gone, removed. */
        for (size_t i = 0; i < nspares; i++) kill(-spares[i].pid, SIGKILL);
        for (size_t i = 0; i < nspares; i++) {
          char *slash = strrchr(spares[i].procs, '/');
          waitpid(spares[i].pid, NULL, 0);
          if (slash && strcmp(slash, "/cgroup.procs") == 0) {
            *slash = 0;
            rmdir(spares[i].procs);
          }
        }
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
      for (size_t i = 0; i < nspares; i++)
        if (spares[i].pid == pid) {
          drop_spare(i, 0); /* died before its request: the request gets a fresh child */
          break;
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
