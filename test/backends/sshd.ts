// A real OpenSSH server on 127.0.0.1 for the ssh backend tests: its own host key, config,
// an authorized test key, a known_hosts file for the client, and a bounded lifetime.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../helpers/backend-fixtures.js";

export const SSHD = ["/usr/sbin/sshd", "/usr/bin/sshd"].find((p) => existsSync(p));

export interface TestSshd {
  port: number;
  user: string;
  identity: string;
  knownHosts: string;
  pid: number;
  /** kill every session process of this server (a lost connection), keep listening */
  dropSessions(): void;
  stop(): Promise<void>;
}

export { freePort };

/** Why the test sshd cannot run here, or null. */
export function sshdUnavailable(): string | null {
  if (!SSHD) return "openssh-server (sshd) is not installed";
  if (spawnSync("sh", ["-c", "command -v ssh && command -v ssh-keygen"]).status !== 0) return "the ssh client is not installed";
  if (process.getuid?.() !== 0) return "the test sshd runs as root (it logs in as the current user with a test key)";
  return null;
}

export async function startSshd(dir: string, lifetimeMs = 600_000): Promise<TestSshd> {
  mkdirSync(dir, { recursive: true });
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const hostKey = join(dir, "host_ed25519");
  const identity = join(dir, "id_ed25519");
  for (const k of [hostKey, identity]) {
    const r = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", k], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
  }
  writeFileSync(join(dir, "authorized_keys"), readFileSync(`${identity}.pub`), { mode: 0o600 });
  const port = await freePort();
  const user = process.env.USER || "root";
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      `ListenAddress 127.0.0.1`,
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      `StrictModes no`,
      `UsePAM no`,
      `PermitRootLogin prohibit-password`,
      `PasswordAuthentication no`,
      `KbdInteractiveAuthentication no`,
      `PubkeyAuthentication yes`,
      `AllowUsers ${user}`,
      `MaxStartups 50`,
      `MaxSessions 50`,
      `LogLevel ERROR`,
      "",
    ].join("\n"),
  );
  const knownHosts = join(dir, "known_hosts");
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${readFileSync(`${hostKey}.pub`, "utf8")}`);
  const child: ChildProcess = spawn(SSHD!, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), lifetimeMs);
  timer.unref();
  // Ready when it accepts a login.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = spawnSync(
      "ssh",
      [
        "-o",
        "BatchMode=yes",
        "-o",
        `UserKnownHostsFile=${knownHosts}`,
        "-o",
        "StrictHostKeyChecking=yes",
        "-i",
        identity,
        "-p",
        String(port),
        `${user}@127.0.0.1`,
        "true",
      ],
      { encoding: "utf8", timeout: 5000 },
    );
    if (r.status === 0) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the test sshd did not start: ${stderr || r.stderr}`);
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  const pid = child.pid!;
  return {
    port,
    user,
    identity,
    knownHosts,
    pid,
    dropSessions() {
      const r = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" });
      for (const p of r.stdout.split("\n").filter(Boolean)) {
        try {
          process.kill(Number(p), "SIGKILL");
        } catch {
          /* gone */
        }
      }
    },
    stop: () =>
      new Promise<void>((resolve) => {
        clearTimeout(timer);
        // Shared connections (ControlMaster) keep a session child, and its stderr, alive.
        spawnSync("pkill", ["-KILL", "-P", String(pid)]);
        if (child.exitCode !== null) return resolve();
        child.once("close", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
