// bb_worker of one pool, modelled on docker-compose/config/worker-hardlinking-ubuntu22-04.jsonnet:
// a native build directory (no FUSE), one runner reached over a UNIX socket. The pool's
// platform properties (what a client's Action must ask for to land here) and its directory
// come from BB_POOL / BB_POOL_ISA.
local common = import 'common.libsonnet';
local pool = std.extVar('BB_POOL');
local dir = common.stateDir + '/' + pool;

{
  blobstore: common.blobstore,
  maximumMessageSizeBytes: common.maximumMessageSizeBytes,
  scheduler: { address: common.schedulerWorkerAddress },
  global: common.global,
  buildDirectories: [{
    native: {
      buildDirectoryPath: dir + '/build',
      cacheDirectoryPath: dir + '/cache',
      maximumCacheFileCount: 100000,
      maximumCacheSizeBytes: 1024 * 1024 * 1024,
      cacheReplacementPolicy: 'LEAST_RECENTLY_USED',
    },
    runners: [{
      endpoint: { address: 'unix://' + dir + '/runner.sock' },
      concurrency: std.parseInt(std.extVar('BB_CONCURRENCY')),
      platform: {
        // Sorted by name: the scheduler refuses unsorted property lists.
        properties: [
          { name: 'ISA', value: std.extVar('BB_POOL_ISA') },
          { name: 'OSFamily', value: 'linux' },
        ],
      },
      workerId: { pool: pool, hostname: 'localhost' },
      // The runner chroots into the input root, which holds no /dev: these are made there.
      inputRootCharacterDeviceNodes: ['null', 'zero', 'full', 'random', 'urandom'],
    }],
  }],
  inputDownloadConcurrency: 16,
  outputUploadConcurrency: 16,
  directoryCache: {
    maximumCount: 10000,
    maximumSizeBytes: 16 * 1024 * 1024,
    cacheReplacementPolicy: 'LEAST_RECENTLY_USED',
  },
}
