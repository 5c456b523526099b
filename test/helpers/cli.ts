// Run the built `bramble` CLI as a user would, on a fresh store.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const repo = join(dirname(fileURLToPath(import.meta.url)), "../..");
export const cli = join(repo, "dist/cli.mjs");

export function ensureCli(): void {
  if (["dist/cli.mjs", "dist/eval-worker.mjs", "dist/hash-worker.mjs"].every((f) => existsSync(join(repo, f)))) return;
  const r = spawnSync(process.execPath, [join(repo, "scripts/build.mjs"), "cli"], { cwd: repo, stdio: "inherit" });
  if (r.status !== 0) throw new Error("building the CLI failed");
}

const homes: string[] = [];
// Each test process removes the BRAMBLE_PATHs it made when it exits.
process.on("exit", () => {
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
});

/** A new, empty BRAMBLE_PATH, removed when the test process exits. */
export function freshHome(): string {
  const h = mkdtempSync(join(tmpdir(), "bramble-home-"));
  homes.push(h);
  return h;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function bramble(args: string[], opts: { home: string; cwd?: string; input?: string; timeoutMs?: number; env?: Record<string, string> }): CliResult {
  ensureCli();
  const r = spawnSync(process.execPath, [cli, ...args], {
    cwd: opts.cwd ?? repo,
    env: { ...process.env, BRAMBLE_PATH: opts.home, NO_COLOR: "1", ...opts.env },
    input: opts.input,
    encoding: "utf8",
    timeout: opts.timeoutMs ?? 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
