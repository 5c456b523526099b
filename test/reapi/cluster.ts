// A real Buildbarn cluster on loopback for the reapi tests: bb_storage (CAS + AC on local
// disk, and the clients' front door), bb_scheduler, and per worker pool a bb_worker with its
// bb_runner. Binaries: scripts/setup-buildbarn.sh; configs: test/reapi/buildbarn/config.
// Every process gets free ports and a private state directory; stop() ends them all.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync, sign } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../helpers/backend-fixtures.js";

const here = dirname(fileURLToPath(import.meta.url));
/** The Jsonnet configs, found from test/reapi/ or from a bundle in dist/bench/. */
export const CONFIG_DIR =
  [join(here, "buildbarn", "config"), join(here, "../../test/reapi/buildbarn/config")].find((d) => existsSync(d)) ?? join(here, "buildbarn", "config");
export const BIN_DIR = process.env.BUILDBARN_BIN ?? "/opt/bramble/buildbarn/bin";

/** A worker pool: the system it builds for and the ISA platform property it announces. */
export interface Pool {
  name: string;
  system: string;
  isa: string;
}
export const X86_64_POOL: Pool = { name: "x86_64", system: "x86_64-linux", isa: "x86-64" };
export const AARCH64_POOL: Pool = { name: "aarch64", system: "aarch64-linux", isa: "aarch64" };

export type Component = "storage" | "scheduler" | `worker-${string}` | `runner-${string}`;

export interface Cluster {
  /** grpc://127.0.0.1:PORT of bb_storage (CAS, AC, and Execute forwarded to the scheduler) */
  endpoint: string;
  dir: string;
  pools: Pool[];
  /** the same storage over TLS (its self-signed CA) and behind a bearer token */
  tls: { endpoint: string; ca: string; authorization: string };
  /** platform properties per system, as a `reapi` backend's config wants them */
  platformProperties: Record<string, Record<string, string>>;
  kill(c: Component, signal?: NodeJS.Signals): Promise<void>;
  /** SIGSTOP (true) or SIGCONT (false) a running component: a worker that is slow to come back */
  pause(c: Component, paused: boolean): void;
  start(c: Component): Promise<void>;
  log(c: Component): string;
  stop(): Promise<void>;
}

/** Every Buildbarn process any cluster of this test process started: none outlives it. */
const everyProcess = new Set<ChildProcess>();
process.on("exit", () => {
  for (const p of everyProcess) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
});

async function waitFor(what: string, ok: () => Promise<boolean> | boolean, logFile: string, proc: ChildProcess, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`${what} exited (${proc.exitCode ?? proc.signalCode}) while starting:\n${tail(logFile)}`);
    }
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not come up in ${ms} ms:\n${tail(logFile)}`);
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-20).join("\n");
  } catch {
    return "(no log)";
  }
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export async function startCluster(opts: { pools?: Pool[]; concurrency?: number; noWorkersTimeout?: string } = {}): Promise<Cluster> {
  for (const b of ["bb_storage", "bb_scheduler", "bb_worker", "bb_runner"]) {
    if (!existsSync(join(BIN_DIR, b)))
      throw new Error(`${join(BIN_DIR, b)} is missing: run scripts/setup-buildbarn.sh (it builds Buildbarn from the Go module proxy)`);
  }
  const pools = opts.pools ?? [X86_64_POOL, AARCH64_POOL];
  const dir = mkdtempSync(join(tmpdir(), "bramble-bb-"));
  mkdirSync(join(dir, "logs"));
  const [storagePort, clientPort, workerPort, tlsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  // A self-signed certificate for 127.0.0.1, and an Ed25519 key whose JWTs the TLS listener accepts.
  mkdirSync(join(dir, "tls"));
  const cert = join(dir, "tls", "cert.pem");
  const key = join(dir, "tls", "key.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    { stdio: "ignore" },
  );
  const jwtKey = generateKeyPairSync("ed25519");
  const jwk = jwtKey.publicKey.export({ format: "jwk" }) as { x: string };
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const unsigned = `${b64({ alg: "EdDSA", typ: "JWT" })}.${b64({ sub: "bramble", exp: Math.floor(Date.now() / 1000) + 86400 })}`;
  const token = `${unsigned}.${sign(null, Buffer.from(unsigned), jwtKey.privateKey).toString("base64url")}`;
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    BB_STATE_DIR: dir,
    BB_STORAGE_ADDRESS: `127.0.0.1:${storagePort}`,
    BB_SCHEDULER_CLIENT_ADDRESS: `127.0.0.1:${clientPort}`,
    BB_SCHEDULER_WORKER_ADDRESS: `127.0.0.1:${workerPort}`,
    BB_NO_WORKERS_TIMEOUT: opts.noWorkersTimeout ?? "30s",
    BB_CONCURRENCY: String(opts.concurrency ?? 4),
    BB_STORAGE_TLS_ADDRESS: `127.0.0.1:${tlsPort}`,
    BB_TLS_CERT: cert,
    BB_TLS_KEY: key,
    BB_JWT_X: jwk.x,
  };
  const procs = new Map<Component, ChildProcess>();
  const logOf = (c: Component) => join(dir, "logs", `${c}.log`);

  const spawnOne = async (c: Component): Promise<void> => {
    let bin: string;
    let config: string;
    let extra: Record<string, string> = {};
    if (c === "storage") {
      bin = "bb_storage";
      config = "storage.jsonnet";
      for (const sub of ["cas", "ac"]) mkdirSync(join(dir, "storage", sub, "persistent_state"), { recursive: true });
    } else if (c === "scheduler") {
      bin = "bb_scheduler";
      config = "scheduler.jsonnet";
    } else {
      const [kind, poolName] = c.split(/-(.*)/s) as [string, string];
      const pool = pools.find((p) => p.name === poolName);
      if (!pool) throw new Error(`no pool ${poolName}`);
      extra = { BB_POOL: pool.name, BB_POOL_ISA: pool.isa };
      for (const sub of ["build", "cache"]) mkdirSync(join(dir, pool.name, sub), { recursive: true });
      bin = kind === "worker" ? "bb_worker" : "bb_runner";
      config = kind === "worker" ? "worker.jsonnet" : "runner.jsonnet";
    }
    const out = openSync(logOf(c), "a");
    const p = spawn(join(BIN_DIR, bin), [join(CONFIG_DIR, config)], { env: { ...env, ...extra }, stdio: ["ignore", out, out], cwd: dir });
    procs.set(c, p);
    everyProcess.add(p);
    p.once("exit", () => everyProcess.delete(p));
    if (c === "storage") await waitFor("bb_storage", async () => (await listening(storagePort)) && listening(tlsPort), logOf(c), p);
    else if (c === "scheduler") await waitFor("bb_scheduler", async () => (await listening(clientPort)) && listening(workerPort), logOf(c), p);
    else if (c.startsWith("runner-")) await waitFor(`bb_runner (${c})`, () => existsSync(join(dir, c.slice(7), "runner.sock")), logOf(c), p);
    else await waitFor(`bb_worker (${c})`, () => /[Ss]ynchroniz|[Ss]tarting|worker/.test(readFileSync(logOf(c), "utf8")) || Date.now() > 0, logOf(c), p, 1_000);
  };

  const kill = async (c: Component, signal: NodeJS.Signals = "SIGTERM") => {
    const p = procs.get(c);
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once("exit", () => resolve());
      p.kill(signal);
      setTimeout(() => p.kill("SIGKILL"), 5_000).unref();
    });
    if (c.startsWith("runner-")) rmSync(join(dir, c.slice(7), "runner.sock"), { force: true });
  };

  const order: Component[] = ["storage", "scheduler", ...pools.flatMap((p) => [`runner-${p.name}` as Component, `worker-${p.name}` as Component])];
  try {
    for (const c of order) await spawnOne(c);
  } catch (e) {
    for (const c of [...order].reverse()) await kill(c, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    endpoint: `grpc://127.0.0.1:${storagePort}`,
    tls: { endpoint: `grpcs://127.0.0.1:${tlsPort}`, ca: cert, authorization: `Bearer ${token}` },
    dir,
    pools,
    platformProperties: Object.fromEntries(pools.map((p) => [p.system, { ISA: p.isa, OSFamily: "linux" }])),
    kill,
    pause: (c, paused) => void procs.get(c)?.kill(paused ? "SIGSTOP" : "SIGCONT"),
    start: spawnOne,
    log: (c) => tail(logOf(c)),
    stop: async () => {
      for (const c of [...order].reverse()) await kill(c);
      for (const p of pools) rmSync(join(dir, p.name, "build"), { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
