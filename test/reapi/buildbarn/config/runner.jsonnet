// bb_runner of one pool, modelled on docker-compose/config/runner-ubuntu16-04.jsonnet, but
// hermetic: it chroots into the action's input root, so a build sees only what the Action
// carries (its input closures at /bramble/store…, build/, tmp/) plus the character devices
// the worker makes in dev/. No host tool is visible. On the aarch64 pool the builder's
// binaries are aarch64 and run under qemu-user through binfmt_misc (registered with the F
// flag by scripts/setup-backends.sh, so the emulator need not exist inside the chroot).
local common = import 'common.libsonnet';
local dir = common.stateDir + '/' + std.extVar('BB_POOL');

{
  buildDirectoryPath: dir + '/build',
  global: common.global,
  grpcServers: [{
    listenPaths: [dir + '/runner.sock'],
    authenticationPolicy: { allow: {} },
  }],
  chrootIntoInputRoot: true,
  cleanProcessTable: false,
}
