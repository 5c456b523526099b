// OpenSSH as a StoreTransport: scripts run with `sh -c` on the host, trees move as tar
// streams through the same connection options (npm `tar` here, the host's `tar` there). Uses the `ssh` binary (the user's agent,
// config and known hosts apply), never a password prompt (BatchMode). One connection per
// host and process is shared by the steps around a build (ControlMaster, its socket in a
// directory only we can enter; it closes when the process exits, or 30 s after its last use).
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { shq, type ExecResult, type StoreTransport } from "../store/remote-store.js";
import { packTrees, unpackTrees } from "../store/tar.js";

export interface SshTarget {
  host: string;
  port?: number;
  user?: string;
  identity?: string;
  /** a known_hosts file to trust (then host keys are checked strictly) */
  knownHosts?: string;
  /** seconds to wait for the connection */
  connectTimeout?: number;
}

export function sshLabel(t: SshTarget): string {
  return `${t.user ? `${t.user}@` : ""}${t.host}${t.port ? `:${t.port}` : ""}`;
}

export function sshArgs(t: SshTarget): string[] {
  const a = [
    "-o",
    "BatchMode=yes",
    "-o",
    `ConnectTimeout=${t.connectTimeout ?? 5}`,
    "-o",
    "ServerAliveInterval=3",
    "-o",
    "ServerAliveCountMax=2",
    "-o",
    "LogLevel=ERROR",
  ];
  if (t.port) a.push("-p", String(t.port));
  if (t.identity) a.push("-i", t.identity, "-o", "IdentitiesOnly=yes");
  if (t.knownHosts) a.push("-o", `UserKnownHostsFile=${t.knownHosts}`, "-o", "StrictHostKeyChecking=yes");
  else a.push("-o", "StrictHostKeyChecking=accept-new");
  a.push(t.user ? `${t.user}@${t.host}` : t.host);
  return a;
}

/** The argv that runs `script` on the host. */
export function sshArgv(t: SshTarget, script: string): string[] {
  return ["ssh", ...sshArgs(t), `sh -c ${shq(script)}`];
}

let controlDir: string | undefined;
/** whether controlDir is a private directory of this process (removed at exit) */
let ownDir = false;
/** control socket → the ssh arguments that reach its host, to close it at exit */
const masters = new Map<string, string[]>();
/** control socket → its master being opened (or opened) */
const opening = new Map<string, { pending: boolean; done: Promise<void> }>();

/**
 * Where this process's control sockets live: `$TMPDIR/bramble-ssh-<uid>/` (ours, mode 0700;
 * sockets named `<pid>-<target>`, removed by their masters), or a private temporary
 * directory when that one is not safe to use.
 */
function controlRoot(): string {
  if (!controlDir) {
    const uid = process.getuid?.() ?? 0;
    const shared = join(tmpdir(), `bramble-ssh-${uid}`);
    try {
      mkdirSync(shared, { mode: 0o700 });
    } catch {
      /* there already */
    }
    const st = lstatSync(shared, { throwIfNoEntry: false });
    const safe = st && st.isDirectory() && !st.isSymbolicLink() && st.uid === uid && (st.mode & 0o077) === 0;
    controlDir = safe ? shared : mkdtempSync(join(tmpdir(), "bramble-ssh-"));
    ownDir = !safe;
    process.once("exit", closeMasters);
  }
  return controlDir;
}

/** Close this process's shared connections. */
export function closeMasters(): void {
  for (const [socket, args] of masters) {
    if (existsSync(socket)) spawnSync("ssh", ["-o", `ControlPath=${socket}`, "-O", "exit", ...args], { stdio: "ignore", timeout: 3000 });
  }
  masters.clear();
  opening.clear();
  if (controlDir && ownDir) rmSync(controlDir, { recursive: true, force: true });
  controlDir = undefined;
}

function waitClose(p: ReturnType<typeof spawn>): Promise<number | null> {
  return new Promise((resolve, reject) => {
    p.on("error", reject);
    p.on("close", (code) => resolve(code));
  });
}

export class SshTransport implements StoreTransport {
  readonly label: string;
  private socket?: string;

  constructor(readonly target: SshTarget) {
    this.label = `ssh ${sshLabel(target)}`;
  }

  private controlPath(): string {
    if (!this.socket || !controlDir) {
      const id = createHash("sha256").update(JSON.stringify(this.target)).digest("hex").slice(0, 16);
      this.socket = join(controlRoot(), `${process.pid}-${id}`);
    }
    return this.socket;
  }

  /**
   * Open the shared connection if it is not open (or died). Steps use it when it is there and
   * connect on their own when it is not, so a failure here only costs speed. One master per
   * socket in this process, however many transports reach the same target.
   */
  async connect(opts: { background?: boolean } = {}): Promise<void> {
    const socket = this.controlPath();
    const m = opening.get(socket);
    if (m && (m.pending || existsSync(socket))) return m.done;
    const args = sshArgs(this.target);
    masters.set(socket, args);
    const entry = { pending: true, done: Promise.resolve() };
    entry.done = new Promise<void>((resolve) => {
      const settle = () => {
        entry.pending = false;
        resolve();
      };
      // -f: backgrounds once authenticated (stdio closed, so nobody waits on its pipes).
      const p = spawn("ssh", ["-M", "-N", "-f", "-o", `ControlPath=${socket}`, "-o", "ControlPersist=30", ...args], { stdio: "ignore" });
      if (opts.background) p.unref();
      p.on("error", settle);
      p.on("close", settle);
    });
    opening.set(socket, entry);
    return entry.done;
  }

  /** The argv that runs `script` on the host through the shared connection (or its own). */
  argv(script: string): string[] {
    const [cmd, ...rest] = sshArgv(this.target, script);
    return [cmd!, "-o", `ControlPath=${this.controlPath()}`, "-o", "ControlMaster=no", ...rest];
  }

  /**
   * Run a script on the host. `background`: a question nobody waits for (a probe started by
   * the planner): it does not keep this process alive, so a CLI that has its answer exits.
   */
  async exec(script: string, opts: { signal?: AbortSignal; timeoutMs?: number; background?: boolean } = {}): Promise<ExecResult> {
    await this.connect({ background: opts.background });
    return new Promise((resolve, reject) => {
      const [cmd, ...args] = this.argv(script);
      const p = spawn(cmd!, args, { stdio: ["ignore", "pipe", "pipe"], signal: opts.signal, timeout: opts.timeoutMs, killSignal: "SIGKILL" });
      if (opts.background) {
        p.unref();
        (p.stdout as unknown as { unref?: () => void }).unref?.();
        (p.stderr as unknown as { unref?: () => void }).unref?.();
      }
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      p.stdout.on("data", (c: Buffer) => out.push(c));
      p.stderr.on("data", (c: Buffer) => err.push(c));
      const result = (code: number | null) => ({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
      p.on("error", reject);
      // Killed (cancel, timeout): the shared master may hold our pipes until the remote command
      // ends, so do not wait for them to close.
      p.on("exit", (code, signal) => {
        if (signal === null) return;
        p.stdout.destroy();
        p.stderr.destroy();
        resolve(result(null));
      });
      p.on("close", (code) => resolve(result(code)));
    });
  }

  async getTar(dir: string, rels: string[], localDir: string): Promise<void> {
    await this.connect();
    const [cmd, ...args] = this.argv(`cd ${shq(dir)} && tar cf - ${rels.map((r) => shq(r)).join(" ")}`);
    const src = spawn(cmd!, args, { stdio: ["ignore", "pipe", "pipe"] });
    const errs: string[] = [];
    src.stderr!.on("data", (c: Buffer) => errs.push(c.toString()));
    const closed = waitClose(src);
    let unpackError: Error | undefined;
    await unpackTrees(src.stdout!, localDir).catch((e: Error) => {
      unpackError = e;
      src.kill("SIGKILL");
    });
    const code = await closed;
    if (code !== 0 || unpackError)
      throw new Error(
        `tar over ssh failed (ssh exit ${code})${errs.length ? `: ${errs.join("").trim()}` : ""}${unpackError ? `: ${unpackError.message}` : ""}`,
      );
  }

  async putTar(localDir: string, rels: string[], dir: string): Promise<void> {
    await this.connect();
    const [cmd, ...args] = this.argv(`mkdir -p ${shq(dir)} && tar xf - -C ${shq(dir)}`);
    const dst = spawn(cmd!, args, { stdio: ["pipe", "ignore", "pipe"] });
    const errs: string[] = [];
    dst.stderr!.on("data", (c: Buffer) => errs.push(c.toString()));
    dst.stdin!.on("error", () => undefined);
    const closed = waitClose(dst);
    let packError: Error | undefined;
    await pipeline(packTrees(localDir, rels), dst.stdin!).catch((e: Error) => {
      packError = e;
      dst.kill("SIGKILL");
    });
    const code = await closed;
    if (code !== 0 || packError)
      throw new Error(`tar over ssh failed (ssh exit ${code})${errs.length ? `: ${errs.join("").trim()}` : ""}${packError ? `: ${packError.message}` : ""}`);
  }
}
