// bb_scheduler, modelled on docker-compose/config/scheduler.jsonnet. Platform queues are
// created by the workers that announce them (no predeclared queues); an action for a
// platform no worker offers fails after platformQueueWithNoWorkersTimeout.
local common = import 'common.libsonnet';

{
  clientGrpcServers: [{
    listenAddresses: [common.schedulerClientAddress],
    authenticationPolicy: { allow: {} },
  }],
  workerGrpcServers: [{
    listenAddresses: [common.schedulerWorkerAddress],
    authenticationPolicy: { allow: {} },
  }],
  global: common.global,
  contentAddressableStorage: common.blobstore.contentAddressableStorage,
  maximumMessageSizeBytes: common.maximumMessageSizeBytes,
  executeAuthorizer: { allow: {} },
  modifyDrainsAuthorizer: { allow: {} },
  killOperationsAuthorizer: { allow: {} },
  actionRouter: {
    simple: {
      platformKeyExtractor: { actionAndCommand: {} },
      invocationKeyExtractors: [{ correlatedInvocationsId: {} }, { toolInvocationId: {} }],
      initialSizeClassAnalyzer: {
        defaultExecutionTimeout: '1800s',
        maximumExecutionTimeout: '7200s',
      },
    },
  },
  platformQueueWithNoWorkersTimeout: std.extVar('BB_NO_WORKERS_TIMEOUT'),
}
