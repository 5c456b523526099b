/*
 * store-view-helper VIEW COMMAND [ARG...]: what core/builders/store-view.ts's perl helper does,
 * as a small program (a perl start-up costs several milliseconds per build): mount VIEW over
 * itself through an idmapped mount whose map swaps root and nobody, in a private mount
 * namespace of its own, then exec COMMAND (the sandbox). Built by scripts/build.mjs when a C
 * compiler is there (dist/store-view-helper); without it the perl helper runs.
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

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: store-view-helper VIEW COMMAND [ARG...]\n");
    return 125;
  }
  const char *view = argv[1];
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
  execvp(argv[2], argv + 2);
  fail(argv[2]);
  return 125;
}
