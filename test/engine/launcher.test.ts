// The sandbox launcher (core/builders/launcher.ts, store-view-helper --serve): what a run
// through it gives is what runLogged gives a process Node spawns itself.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { launch } from "../../core/builders/launcher.js";
import { repo } from "../helpers/cli.js";

const helper = join(repo, "dist/store-view-helper");

async function run(script: string, opts: { signal?: AbortSignal; timeoutMs?: number } = {}) {
  const lines: string[] = [];
  const r = await launch(helper, ["--merge-stderr", "--", "/bin/sh", "-c", script], { log: (l) => lines.push(l), ...opts });
  return { ...r, lines };
}

describe("sandbox launcher", () => {
  it("gives stdout and stderr in the order written, and the exit code", async () => {
    expect(await run("echo one; echo two >&2; printf 'no newline'; exit 3")).toEqual({
      exitCode: 3,
      signal: null,
      cancelled: false,
      timedOut: false,
      lines: ["one", "two", "no newline"],
    });
  });

  it("runs several at once, each its own output and status", async () => {
    const all = await Promise.all([1, 2, 3, 4].map((i) => run(`sleep 0.$((5 - ${i})); echo run ${i}; exit ${i}`)));
    expect(all.map((r) => [r.exitCode, r.lines])).toEqual([1, 2, 3, 4].map((i) => [i, [`run ${i}`]]));
  });

  it("reports a signal, kills the whole group on a timeout and on cancel, and refuses a bad request", async () => {
    expect(await run("kill -9 $$")).toMatchObject({ exitCode: null, signal: "SIGKILL" });
    // A child in the background holding the output open goes with the group.
    expect(await run("sleep 30 & echo started; wait", { timeoutMs: 300 })).toMatchObject({ timedOut: true, signal: "SIGKILL", lines: ["started"] });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    expect(await run("(sleep 30; echo late) & sleep 30", { signal: ac.signal })).toMatchObject({ cancelled: true, lines: [] });
    const bad = await launch(helper, ["--no-such-option"], { log: () => {} }).then((r) => r.exitCode);
    expect(bad).toBe(125);
  });

  it("kills on a timeout that fired before the launcher said the command started", async () => {
    const lines: string[] = [];
    const running = launch(helper, ["--merge-stderr", "--", "/bin/sh", "-c", "sleep 30; echo late"], { log: (l) => lines.push(l), timeoutMs: 50 });
    // The event loop is busy (a big output hashed synchronously, say) past the timeout: its timer
    // runs before the launcher's start message is read.
    const until = Date.now() + 300;
    while (Date.now() < until) {
      /* busy */
    }
    expect({ ...(await running), lines }).toMatchObject({ timedOut: true, exitCode: null, signal: "SIGKILL", lines: [] });
  }, 20_000);

  it("starts a command in a session of its own with an empty environment and /dev/null as input", async () => {
    const r = await run('test "$(ps -o sid= -p $$)" -eq $$ && echo own session; env | grep -v -e ^PWD= -e ^SHLVL= -e ^_= | wc -l; cat');
    expect(r.lines).toEqual(["own session", "0"]);
    expect(r.exitCode).toBe(0);
  });
});
