// The sandbox launcher (core/builders/launcher.ts, store-view-helper --serve): what a run
// through it gives is what runLogged gives a process Node spawns itself.
import { mkdirSync, readFileSync, readlinkSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { dropSpares, launch, prepareSpare } from "../../core/builders/launcher.js";
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

  it("hands a request to the spare prepared for its cgroup only, and starts fresh when a spare could not be prepared", async () => {
    const cg = (x: string) => join("/sys/fs/cgroup/pids", `bramble-${process.pid}-launcher-${x}`);
    const procs = (x: string) =>
      readFileSync(join(cg(x), "cgroup.procs"), "utf8")
        .split("\n")
        .filter(Boolean)
        .map(Number);
    for (const x of ["a", "b"]) mkdirSync(cg(x), { recursive: true });
    const sh = async (x: string, script: string, netns = false) => {
      const lines: string[] = [];
      const opts = ["--merge-stderr", "--cgroup", join(cg(x), "cgroup.procs"), ...(netns ? ["--netns"] : [])];
      const r = await launch(helper, [...opts, "--", "/bin/sh", "-c", script], { log: (l) => lines.push(l) });
      return { exitCode: r.exitCode, lines };
    };
    const waitFor = async (x: string) => {
      for (let i = 0; i < 500 && procs(x).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      return procs(x);
    };
    try {
      prepareSpare(helper, join(cg("a"), "cgroup.procs"), true);
      const [spare] = await waitFor("a");
      expect(spare).toBeGreaterThan(0);
      // It joins the cgroup first, then makes its network namespace.
      const host = readlinkSync("/proc/self/ns/net");
      let spareNet = host;
      for (let i = 0; i < 500 && spareNet === host; i++) {
        await new Promise((r) => setTimeout(r, 20));
        spareNet = readlinkSync(`/proc/${spare}/ns/net`);
      }
      expect(spareNet).not.toBe(host);
      // A request for another cgroup is not given the spare, which stays where it is.
      const other = await sh("b", "echo $$; readlink /proc/self/ns/net", true);
      expect(other.exitCode).toBe(0);
      expect(Number(other.lines[0])).not.toBe(spare);
      expect(other.lines[1]).not.toBe(spareNet);
      expect(procs("a")).toEqual([spare]);
      // Its own cgroup's request is: the same process, in the network namespace it made, lo up.
      const own = await sh("a", "echo $$; readlink /proc/self/ns/net; grep -c : /proc/net/dev; cat /proc/net/if_inet6 | grep -c lo", true);
      expect(own).toEqual({ exitCode: 0, lines: [String(spare), spareNet, "1", "1"] });
      // One prepared without --netns is not used for a request that asks it (nor left in its cgroup).
      prepareSpare(helper, join(cg("a"), "cgroup.procs"), false);
      const [plain] = await waitFor("a");
      const asked = await sh("a", "echo $$; grep -c : /proc/net/dev", true);
      expect(asked.lines[1]).toBe("1");
      expect(Number(asked.lines[0])).not.toBe(plain);
      expect(procs("a")).not.toContain(plain);
      // A spare whose cgroup was not there joins it when its request comes, as a fresh child would
      // (and fails as one would when it is still not there).
      rmdirSync(cg("b"));
      prepareSpare(helper, join(cg("b"), "cgroup.procs"), true);
      await new Promise((r) => setTimeout(r, 200));
      mkdirSync(cg("b"));
      expect(await sh("b", "cat /proc/self/cgroup | grep -c launcher-b")).toEqual({ exitCode: 0, lines: ["1"] });
      rmdirSync(cg("b"));
      prepareSpare(helper, join(cg("b"), "cgroup.procs"), false);
      const missing = await sh("b", "echo ran");
      expect(missing.exitCode).toBe(125);
      expect(missing.lines).toEqual([`bramble store view: ${join(cg("b"), "cgroup.procs")}: No such file or directory`]);
      // Dropped spares are gone.
      mkdirSync(cg("b"));
      prepareSpare(helper, join(cg("b"), "cgroup.procs"), false);
      const [dropped] = await waitFor("b");
      dropSpares();
      for (let i = 0; i < 500 && procs("b").length; i++) await new Promise((r) => setTimeout(r, 20));
      expect(procs("b")).toEqual([]);
      expect(dropped).toBeGreaterThan(0);
    } finally {
      dropSpares();
      for (const x of ["a", "b"]) {
        for (let i = 0; i < 50; i++) {
          try {
            rmdirSync(cg(x));
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      }
    }
  }, 60_000);
});
