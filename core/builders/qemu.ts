// The qemu backend: builds for another Linux architecture on this machine, under qemu-user,
// in the same bubblewrap sandbox and into the same store as `local` (same kernel, same
// filesystem: one store is right here). With binfmt_misc registered for the architecture,
// foreign binaries simply run, so builders that start other processes work. Without it
// but with qemu-<arch>-static installed, only the builder process itself is emulated
// (its children fail with "Exec format error"), which `info()` says.
import { existsSync, readFileSync } from "node:fs";
import type { BackendInfo } from "../model/types.js";
import type { LocalStore } from "../store/store.js";
import { BuildFailure, hostSystem, type Backend, type BuildJob, type BuildOutcome } from "./backend.js";
import { LocalBackend } from "./local.js";

/** Our architecture names → qemu's. */
const QEMU_ARCH: Record<string, string> = {
  aarch64: "aarch64",
  armv7l: "arm",
  i686: "i386",
  x86_64: "x86_64",
  riscv64: "riscv64",
  ppc64le: "ppc64le",
  s390x: "s390x",
};

const BINFMT_DIR = "/proc/sys/fs/binfmt_misc";

export interface EmulationStatus {
  system: string;
  /** binfmt_misc runs this architecture's binaries (interpreter path) */
  binfmt?: { interpreter: string; flags: string };
  /** qemu-<arch>-static found (path), for single-process emulation */
  staticQemu?: string;
  /** why this system cannot be emulated */
  reason?: string;
}

/** How (or whether) this machine can run `system`'s binaries. */
export function emulationStatus(system: string, binfmtDir = BINFMT_DIR): EmulationStatus {
  const m = /^([a-z0-9_]+)-linux$/.exec(system);
  if (!m) return { system, reason: `qemu-user only runs Linux binaries, not ${system}` };
  const q = QEMU_ARCH[m[1]!];
  if (!q) return { system, reason: `no qemu-user emulator is known for the architecture ${m[1]} (known: ${Object.keys(QEMU_ARCH).join(", ")})` };
  const st: EmulationStatus = { system };
  try {
    const global = readFileSync(`${binfmtDir}/status`, "utf8").trim();
    const entry = readFileSync(`${binfmtDir}/qemu-${q}`, "utf8");
    if (global === "enabled" && entry.startsWith("enabled")) {
      const interpreter = /^interpreter (.+)$/m.exec(entry)?.[1] ?? "";
      const flags = /^flags: ?(.*)$/m.exec(entry)?.[1] ?? "";
      st.binfmt = { interpreter, flags };
    }
  } catch {
    /* not mounted or not registered */
  }
  for (const dir of ["/usr/bin", "/usr/local/bin", "/bin"]) {
    if (existsSync(`${dir}/qemu-${q}-static`)) {
      st.staticQemu = `${dir}/qemu-${q}-static`;
      break;
    }
  }
  if (!st.binfmt && !st.staticQemu) {
    st.reason =
      `binfmt_misc has no enabled qemu-${q} entry and qemu-${q}-static is not installed ` +
      `(apt-get install qemu-user-static binfmt-support; update-binfmts --enable qemu-${q}; or scripts/setup-backends.sh)`;
  }
  return st;
}

export class QemuBackend implements Backend {
  readonly kind = "qemu";
  private readonly local: LocalBackend;

  /**
   * @param systems the systems to offer; by default aarch64-linux plus every other Linux
   *   architecture binfmt_misc runs here (static-only emulators are offered only when configured).
   */
  constructor(
    readonly store: LocalStore,
    readonly name = "qemu",
    private readonly systems?: string[],
  ) {
    this.local = new LocalBackend(store);
  }

  private statuses(): EmulationStatus[] {
    const host = hostSystem();
    const wanted = this.systems ?? Object.keys(QEMU_ARCH).map((a) => `${a}-linux`);
    const all = wanted.filter((s) => s !== host).map((s) => emulationStatus(s));
    if (this.systems) return all;
    // Unconfigured: offer what binfmt_misc runs, and aarch64-linux (runnable or not, so its absence is explained).
    return all.filter((s) => s.binfmt || s.system === "aarch64-linux");
  }

  platforms(): string[] {
    const s = this.statuses();
    const ok = s.filter((x) => !x.reason).map((x) => x.system);
    return ok.length ? ok : s.map((x) => x.system);
  }

  availability(): { available: boolean; reason?: string } {
    const local = this.local.availability();
    if (!local.available) return local;
    const s = this.statuses();
    if (s.some((x) => !x.reason)) return { available: true };
    return { available: false, reason: s.map((x) => x.reason).join("; ") || "no systems configured" };
  }

  info(): BackendInfo {
    const a = this.availability();
    let reason = a.reason;
    if (a.available) {
      const single = this.statuses()
        .filter((x) => !x.reason && !x.binfmt)
        .map((x) => x.system);
      if (single.length) reason = `binfmt_misc not registered for ${single.join(", ")}: only single-process builders work there`;
    }
    return { name: this.name, kind: this.kind, platforms: this.platforms(), available: a.available, ...(reason ? { reason } : {}) };
  }

  async build(job: BuildJob): Promise<BuildOutcome> {
    const st = emulationStatus(job.drv.platform);
    if (st.reason) throw new BuildFailure(`qemu backend "${this.name}" cannot build for ${job.drv.platform}: ${st.reason}`);
    if (!this.platforms().includes(job.drv.platform))
      throw new BuildFailure(`qemu backend "${this.name}" does not offer ${job.drv.platform} (it offers ${this.platforms().join(", ")})`);
    const sandboxPaths = [...job.sandboxPaths];
    let drv = job.drv;
    if (st.binfmt) {
      // Without the F flag the kernel opens the interpreter by path at exec time: make it visible.
      if (!st.binfmt.flags.includes("F") && st.binfmt.interpreter) sandboxPaths.push(st.binfmt.interpreter);
    } else {
      // Single-process emulation: the emulator runs the builder.
      sandboxPaths.push(st.staticQemu!);
      drv = { ...drv, builder: st.staticQemu!, args: [drv.builder, ...drv.args] };
    }
    try {
      return await this.local.build({ ...job, drv, sandboxPaths });
    } catch (e) {
      if (e instanceof BuildFailure && !e.cancelled) {
        throw new BuildFailure(`qemu (${job.drv.platform}): ${e.message}`, e.exitCode, e.keptDir, e.cancelled);
      }
      throw e;
    }
  }
}
