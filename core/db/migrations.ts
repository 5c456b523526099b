// Numbered schema migrations. Append only: never edit a migration that has shipped.
export const MIGRATIONS: string[] = [
  // 1: derivations, valid store paths, which derivation made which output, builds, evaluations
  `
  CREATE TABLE derivations (
    hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    platform TEXT NOT NULL,
    system TEXT NOT NULL,
    json TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  -- one row per valid store path (name relative to the store directory)
  CREATE TABLE paths (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    refs TEXT NOT NULL,
    deriver TEXT,
    registered_at INTEGER NOT NULL
  );
  -- derivation hash + output name -> store path it was built to
  CREATE TABLE drv_outputs (
    drv_hash TEXT NOT NULL,
    output TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (drv_hash, output)
  );
  CREATE INDEX drv_outputs_path ON drv_outputs(path);
  -- resolved derivation (inputs replaced by their store paths) -> outputs: early cutoff
  CREATE TABLE realisations (
    resolved TEXT NOT NULL,
    output TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (resolved, output)
  );
  CREATE TABLE builds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    drv_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    backend TEXT NOT NULL,
    platform TEXT NOT NULL,
    system TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    exit_code INTEGER,
    error TEXT,
    log_file TEXT NOT NULL DEFAULT '',
    kept_dir TEXT,
    pid INTEGER NOT NULL,
    command TEXT
  );
  CREATE INDEX builds_drv ON builds(drv_hash, id);
  CREATE INDEX builds_status ON builds(status);
  CREATE TABLE evaluations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project TEXT NOT NULL,
    module_arg TEXT NOT NULL,
    target TEXT NOT NULL,
    roots TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX evaluations_key ON evaluations(project, module_arg, target, id);
  CREATE TABLE evaluation_drvs (
    evaluation_id INTEGER NOT NULL,
    drv_hash TEXT NOT NULL,
    PRIMARY KEY (evaluation_id, drv_hash)
  ) WITHOUT ROWID;
  -- explicit gc roots (store names)
  CREATE TABLE gc_roots (
    path TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
  );
  `,
  // 2: outputs of one build that refer to each other are hashed with placeholders for
  // each other's hash parts; remember which, so verify and copy can hash them again.
  `ALTER TABLE paths ADD COLUMN normalize TEXT;`,
  // 3: one store per backend. Paths valid in another backend's store (its name: `docker`,
  // `box`, ...), as last written or read by this machine; `paths` stays the local store.
  // drv_outputs and realisations name outputs by store name, the same in every store.
  `
  CREATE TABLE store_paths (
    store TEXT NOT NULL,
    name TEXT NOT NULL,
    info TEXT NOT NULL,
    PRIMARY KEY (store, name)
  ) WITHOUT ROWID;
  CREATE INDEX store_paths_name ON store_paths(name);
  `,
  // 4: build runs: what a run was asked to build, by which process, and how it ended. A run
  // still "running" whose process is gone (a killed server or CLI) is "interrupted".
  `
  CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    module_arg TEXT NOT NULL,
    target TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    pid INTEGER NOT NULL
  );
  CREATE INDEX runs_started ON runs(started_at);
  `,
];
