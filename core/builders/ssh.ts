// The ssh backend: builds on another machine over OpenSSH, into that machine's own store
// (`store = "/var/lib/bramble"` → `<store>/store___…`, padded like every store). The inputs'
// closure goes over the connection first; the builder runs with a clean environment
// (`env -i` plus the derivation's) in a fresh build directory; its outputs come back, are
// hashed and registered here and there. The remote side needs only sh, tar and the tools the
// derivation uses; there is no sandbox on the remote host (use a dedicated build user).
import type { BackendInfo } from "../model/types.js";
import { RemoteStore, remoteStoreDir, shq } from "../store/remote-store.js";
import type { LocalStore } from "../store/store.js";
import { backendInfo, BuildFailure, type Availability, type Backend, type BuildJob, type BuildOutcome } from "./backend.js";
import { CachedProbe } from "./probe.js";
import { ingestOutputs, startRemoteBuild } from "./remote-build.js";
import { runLogged } from "./run.js";
import { SshTransport, sshArgv, sshLabel, type SshTarget } from "./ssh-transport.js";

export interface SshBackendOptions extends SshTarget {
  name: string;
  /** the store's root directory on the remote host */
  storeRoot?: string;
  /** systems the host builds; by default probed with `uname -sm` */
  systems?: string[];
}

const PROBE_TTL_MS = 30_000;
/** How old the remote store's metadata may be at the start of a build. */
const REFRESH_MS = 30_000;

const UNAME_ARCH: Record<string, string> = {
  x86_64: "x86_64",
  amd64: "x86_64",
  aarch64: "aarch64",
  arm64: "aarch64",
  armv7l: "armv7l",
  riscv64: "riscv64",
  i686: "i686",
};

export class SshBackend implements Backend {
  readonly kind = "ssh";
  readonly name: string;
  readonly store: RemoteStore;
  readonly transport: SshTransport;

  constructor(
    readonly local: LocalStore,
    readonly opts: SshBackendOptions,
  ) {
    this.name = opts.name;
    this.transport = new SshTransport(opts);
    this.store = new RemoteStore(this.name, remoteStoreDir(opts.storeRoot ?? "/var/lib/bramble"), this.transport, { local: local.layout, index: local.db });
  }

  /** `ssh backend "box" (root@host:22)` — how errors name this backend. */
  get label(): string {
    return `ssh backend "${this.name}" (${sshLabel(this.opts)})`;
  }

  private readonly probed = new CachedProbe(async (background) => {
    const r = await this.transport.exec("uname -sm", { timeoutMs: ((this.opts.connectTimeout ?? 5) + 5) * 1000, background });
    if (r.code === 0) {
      const [os, m] = r.stdout.trim().split(/\s+/);
      return { available: true, systems: [`${UNAME_ARCH[m ?? ""] ?? m}-${(os ?? "").toLowerCase()}`] };
    }
    const why = r.stderr.trim().split("\n").pop() || (r.code === null ? "no answer in time" : `ssh exited with ${r.code}`);
    return { available: false, reason: `cannot reach ${sshLabel(this.opts)}: ${why}` };
  }, PROBE_TTL_MS);

  platforms(): string[] {
    return this.opts.systems ?? this.probed.result?.systems ?? [];
  }

  probe(): Promise<void> {
    return this.probed.probe();
  }

  /** Never waits: the last probe's answer; before the first one ends, "probing" (started in the background). */
  availability(): Availability {
    const p = this.probed.peek();
    if (!p) return { available: false, probing: true, reason: `probing ${sshLabel(this.opts)}` };
    return p.available ? { available: true } : { available: false, reason: p.reason };
  }

  info(): BackendInfo {
    return backendInfo(this);
  }

  async build(job: BuildJob): Promise<BuildOutcome> {
    const label = this.label;
    // Planned while the probe ran (or forced): its answer decides now.
    await this.probe();
    const a = this.availability();
    if (!a.available) throw new BuildFailure(`${label} is unavailable: ${a.reason}`);
    if (!this.platforms().includes(job.drv.platform))
      throw new BuildFailure(`${label} does not offer ${job.drv.platform} (it offers ${this.platforms().join(", ") || "nothing"})`);
    const { top, cmd, leftovers, fail } = await startRemoteBuild(label, job, this.local, this.store, (dir, rels, to) => this.transport.putTar(dir, rels, to), {
      refreshMs: REFRESH_MS,
      onInputsFailed: () => this.probed.forget(),
    });
    try {
      // The login shell execs the builder, which keeps the session's id: killing the session kills the tree.
      const envArgs = Object.entries(cmd.env)
        .map(([k, v]) => shq(`${k}=${v}`))
        .join(" ");
      const script = [
        `cd ${shq(cmd.cwd)} || exit 1`,
        `(cut -d' ' -f6 /proc/$$/stat 2>/dev/null || echo $$) > ${shq(`${top}/pid`)}`,
        `exec env -i ${envArgs} ${[cmd.builder, ...cmd.args].map(shq).join(" ")}`,
      ].join("\n");
      const tail: string[] = [];
      // The build has its own connection: a multiplexed session holds our pipes in the shared
      // master, so killing its client (cancel, timeout) would not end it.
      const result = await runLogged(sshArgv(this.opts, script), {
        env: process.env as Record<string, string>,
        signal: job.signal,
        timeoutMs: job.timeoutMs,
        log: (line) => {
          tail.push(line);
          if (tail.length > 5) tail.shift();
          job.log(line);
        },
      }).catch((e: Error) => {
        throw fail(`could not run ssh: ${e.message}`);
      });
      if (result.cancelled || result.timedOut) {
        await this.killRemote(top);
        if (result.cancelled) throw new BuildFailure("cancelled", null, undefined, true);
        throw fail(`timed out after ${job.timeoutMs} ms`);
      }
      if (result.exitCode === 255 || result.exitCode === null) {
        this.probed.forget();
        await this.killRemote(top);
        const last = tail.filter((l) => /ssh|connection|closed|timeout|refused|broken/i.test(l)).pop();
        throw fail(
          `lost the connection to ${sshLabel(this.opts)} (ssh ${result.exitCode === null ? `killed by ${result.signal}` : "exited 255"}${last ? `: ${last}` : ""})`,
          result.exitCode,
        );
      }
      if (result.exitCode !== 0) throw fail(`builder exited with code ${result.exitCode}`, result.exitCode);
      return await ingestOutputs(
        label,
        this.local,
        this.store,
        job,
        cmd.tmpOutputs,
        (names, into) => this.transport.getTar(this.store.dir, names, into),
        leftovers,
      );
    } finally {
      await this.store.removeTemp(leftovers);
    }
  }

  private async killRemote(top: string): Promise<void> {
    const pid = `$(cat ${shq(`${top}/pid`)} 2>/dev/null)`;
    await this.transport
      .exec(`p=${pid}; [ -n "$p" ] || exit 0; kill -KILL -- -"$p" 2>/dev/null || pkill -KILL -s "$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null; true`, {
        timeoutMs: 10_000,
      })
      .catch(() => undefined);
  }
}
