// Shared settings of the test cluster, modelled on Buildbarn's bb-deployments
// docker-compose/config/common.libsonnet: one bb_storage (CAS + AC on local disk), one
// bb_scheduler, and one bb_worker + bb_runner per worker pool, all on loopback.
// Buildbarn evaluates these files as Jsonnet with every environment variable as an ext var;
// test/reapi/cluster.ts sets the BB_* variables (addresses on free ports, the state directory).
{
  stateDir: std.extVar('BB_STATE_DIR'),
  storageAddress: std.extVar('BB_STORAGE_ADDRESS'),
  schedulerClientAddress: std.extVar('BB_SCHEDULER_CLIENT_ADDRESS'),
  schedulerWorkerAddress: std.extVar('BB_SCHEDULER_WORKER_ADDRESS'),
  maximumMessageSizeBytes: 16 * 1024 * 1024,
  global: {},
  // What workers use: the one storage server, the Action Cache checked for completeness
  // (an ActionResult whose outputs left the CAS is a miss, not a broken hit).
  blobstore: {
    contentAddressableStorage: { grpc: { address: $.storageAddress } },
    actionCache: { grpc: { address: $.storageAddress } },
  },
}
