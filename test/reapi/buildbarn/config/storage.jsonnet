// bb_storage: the CAS and the Action Cache on local disk (sparse block files), and the
// front door for clients: Execute() is forwarded to the scheduler, as bb-deployments'
// frontend does. Modelled on docker-compose/config/storage.jsonnet.
local common = import 'common.libsonnet';
local dir = common.stateDir + '/storage';

local localStore(name, blocksBytes, keyMapBytes, newBlocks) = {
  'local': {
    keyLocationMapOnBlockDevice: { file: { path: dir + '/' + name + '/key_location_map', sizeBytes: keyMapBytes } },
    keyLocationMapMaximumGetAttempts: 8,
    keyLocationMapMaximumPutAttempts: 32,
    oldBlocks: 8,
    currentBlocks: 24,
    // The AC needs 1 (its entries are updated in place), the CAS 3 as in bb-deployments.
    newBlocks: newBlocks,
    blocksOnBlockDevice: {
      source: { file: { path: dir + '/' + name + '/blocks', sizeBytes: blocksBytes } },
      spareBlocks: 3,
    },
    persistent: {
      stateDirectoryPath: dir + '/' + name + '/persistent_state',
      minimumEpochInterval: '300s',
    },
  },
};

{
  grpcServers: [{
    listenAddresses: [common.storageAddress],
    authenticationPolicy: { allow: {} },
  }, {
    // The same storage behind TLS and a bearer token (a JWT signed with the test's Ed25519
    // key), for the client's TLS and header options.
    listenAddresses: [std.extVar('BB_STORAGE_TLS_ADDRESS')],
    tls: {
      serverKeyPair: { files: {
        certificatePath: std.extVar('BB_TLS_CERT'),
        privateKeyPath: std.extVar('BB_TLS_KEY'),
        refreshInterval: '3600s',
      } },
    },
    authenticationPolicy: {
      jwt: {
        jwksInline: { keys: [{ kty: 'OKP', crv: 'Ed25519', x: std.extVar('BB_JWT_X') }] },
        maximumCacheSize: 100,
        cacheReplacementPolicy: 'LEAST_RECENTLY_USED',
        claimsValidationJmespathExpression: "sub == 'bramble'",
        metadataExtractionJmespathExpression: '`{}`',
      },
    },
  }],
  maximumMessageSizeBytes: common.maximumMessageSizeBytes,
  global: common.global,
  schedulers: {
    '': { endpoint: { address: common.schedulerClientAddress } },
  },
  executeAuthorizer: { allow: {} },
  contentAddressableStorage: {
    backend: localStore('cas', 2 * 1024 * 1024 * 1024, 64 * 1024 * 1024, 3),
    getAuthorizer: { allow: {} },
    putAuthorizer: { allow: {} },
    findMissingAuthorizer: { allow: {} },
  },
  actionCache: {
    backend: {
      completenessChecking: {
        backend: localStore('ac', 64 * 1024 * 1024, 4 * 1024 * 1024, 1),
        maximumTotalTreeSizeBytes: 64 * 1024 * 1024,
      },
    },
    getAuthorizer: { allow: {} },
    putAuthorizer: { allow: {} },
  },
}
