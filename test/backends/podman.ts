// A real Docker API for the docker backend tests: podman's service on a private socket,
// started and stopped by the tests, and the local busybox image (made if missing).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, copyFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_DOCKER_IMAGE } from "../../core/builders/docker.js";

export const PODMAN = ["/usr/bin/podman", "/usr/local/bin/podman"].find((p) => existsSync(p));

export function podmanUnavailable(): string | null {
  if (!PODMAN) return "podman is not installed";
  if (process.getuid?.() !== 0) return "the podman tests run as root";
  if (!existsSync("/bin/busybox")) return "busybox-static is not installed (the image is made from it)";
  const r = spawnSync(PODMAN, ["info", "--format", "{{.Host.OCIRuntime.Name}}"], { encoding: "utf8", timeout: 30_000 });
  if (r.status !== 0) return `podman does not work here: ${(r.stderr || r.error?.message || "").trim().split("\n").pop()}`;
  return null;
}

/** The busybox image the docker backend uses by default, imported from a local rootfs. */
export function ensureImage(image = DEFAULT_DOCKER_IMAGE): void {
  if (spawnSync(PODMAN!, ["image", "exists", image]).status === 0) return;
  const root = mkdtempSync(join(tmpdir(), "bramble-rootfs-"));
  try {
    for (const d of ["bin", "tmp", "etc"]) mkdirSync(join(root, d));
    copyFileSync("/bin/busybox", join(root, "bin/busybox"));
    const list = spawnSync("/bin/busybox", ["--list"], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
    for (const a of list) if (a !== "busybox") symlinkSync("busybox", join(root, "bin", a));
    writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    const r = spawnSync("sh", ["-c", `tar -C '${root}' -c . | '${PODMAN}' import - '${image}'`], { encoding: "utf8", timeout: 60_000 });
    if (r.status !== 0) throw new Error(`podman import failed: ${r.stderr}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export interface TestEngine {
  socket: string;
  stop(): Promise<void>;
}

export async function startPodmanService(dir: string, lifetimeMs = 180_000): Promise<TestEngine> {
  const socket = join(dir, "podman.sock");
  const child: ChildProcess = spawn(PODMAN!, ["system", "service", "--time=0", `unix://${socket}`], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), lifetimeMs);
  timer.unref();
  const deadline = Date.now() + 20_000;
  while (!existsSync(socket)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`podman system service did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    socket,
    stop: () =>
      new Promise<void>((resolve) => {
        clearTimeout(timer);
        if (child.exitCode !== null) return resolve();
        child.once("close", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

export function removeVolume(name: string): void {
  spawnSync(PODMAN!, ["volume", "rm", "-f", name], { timeout: 30_000 });
}
