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
 * then exec COMMAND (the sandbox). Built by scripts/build.mjs when a C compiler is there
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
#include <sys/mount.h>
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

int main(int argc, char **argv) {
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
    if (mount("overlay", "store", "overlay", MS_NOSUID | MS_NODEV, "lowerdir=view,upperdir=upper,workdir=work,index=off,metacopy=off,redirect_dir=off,xino=off") < 0)
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
