// A build's network namespace, now made by the sandbox's helper (or ahead of time by a spare the
// launcher prepared in the build's cgroup) rather than by bwrap: still a fresh one per build,
// never the host's nor another build's, with its loopback up; and the spares end with the engine.
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { warmSpare } from "../../core/builders/sandbox.js";
import { derivationHash, type Derivation } from "../../core/derivation/derivation.js";
import { build, cleanupTemps, eventsOf, graph, shDrv, tempEngine } from "./helpers.js";

afterEach(cleanupTemps);

const PIDS = "/sys/fs/cgroup/pids";

function outOf(r: Awaited<ReturnType<typeof build>>, d: Derivation): string {
  expect(r.result.status, JSON.stringify(eventsOf(r.events, "failed"))).toBe("built");
  return r.result.outputs.get(derivationHash(d))!.out!;
}

function report(out: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(join(out, "report"), "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split(": ") as [string, string]),
  );
}

/** The processes in this process's pids cgroups (the builds' and the spares'). */
function inOurCgroups(): number[] {
  const pids: number[] = [];
  for (const e of readdirSync(PIDS)) {
    if (!e.startsWith(`bramble-${process.pid}-`)) continue;
    try {
      pids.push(
        ...readFileSync(join(PIDS, e, "cgroup.procs"), "utf8")
          .split("\n")
          .filter(Boolean)
          .map(Number),
      );
    } catch {
      /* removed meanwhile */
    }
  }
  return pids;
}

async function until<T>(f: () => T | undefined, ms = 10_000): Promise<T | undefined> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) {
    const v = f();
    if (v !== undefined) return v;
  }
  return f();
}

/** A builder reporting its network namespace and interfaces. */
const netReport = `import os
out = os.environ["out"]; os.mkdir(out)
ifaces = sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").read().split("\\n")[2:] if l.strip())
rep = open(out + "/report", "w")
rep.write("netns: " + os.readlink("/proc/self/ns/net") + "\\nifaces: " + ",".join(ifaces) + "\\n")`;

describe("a build's network namespace", () => {
  // First: no build of this process has reserved a cgroup yet.
  it("of a process's first build is made by the spare warmed before its sandbox is laid out", async () => {
    const engine = tempEngine();
    try {
      warmSpare();
      const host = readlinkSync("/proc/self/ns/net");
      const warm = await until(() => {
        const p = inOurCgroups();
        if (p.length !== 1) return undefined;
        const n = readlinkSync(`/proc/${p[0]}/ns/net`);
        return n !== host ? n : undefined;
      });
      expect(warm).toMatch(/^net:\[\d+\]$/);
      const first = shDrv("warm-1", `exec python3 - <<'EOF'\n${netReport}\nEOF`);
      expect(report(outOf(await build(engine, graph(first), [first]), first))).toEqual({ netns: warm, ifaces: "lo" });
    } finally {
      engine.close();
    }
  }, 60_000);

  it("is its own: two builds side by side cannot reach each other over 127.0.0.1 or an abstract socket, and lo is up in each", async () => {
    const engine = tempEngine();
    const tag = randomBytes(4).toString("hex");
    const port = 20_000 + (randomBytes(2).readUInt16LE(0) % 20_000);
    try {
      // It listens on 127.0.0.1 and an abstract socket for 3 s (reaching itself over 127.0.0.1
      // and ::1 first: the loopback is up), then counts what else connected.
      const listener = shDrv(
        "netns-listener",
        `exec python3 - <<'EOF'
${netReport}
import socket, time
t = socket.socket(); t.bind(("127.0.0.1", ${port})); t.listen(64)
u = socket.socket(socket.AF_UNIX); u.bind("\\0bramble-netns-${tag}"); u.listen(64)
socket.create_connection(("127.0.0.1", ${port}), timeout=2).close(); t.accept()[0].close()
v6 = socket.socket(socket.AF_INET6); v6.bind(("::1", 0)); v6.listen(1)
socket.create_connection(("::1", v6.getsockname()[1]), timeout=2).close()
rep.write("self: ok\\n")
time.sleep(3)
others = 0
for s in (t, u):
    s.setblocking(False)
    while True:
        try:
            s.accept(); others += 1
        except BlockingIOError:
            break
rep.write("others: %d\\n" % others)
EOF`,
      );
      // Meanwhile it tries to reach them, and takes the same port for itself.
      const prober = shDrv(
        "netns-prober",
        `exec python3 - <<'EOF'
${netReport}
import socket, time
reached = 0
bound = "no"
for i in range(50):
    for fam, addr in ((socket.AF_INET, ("127.0.0.1", ${port})), (socket.AF_UNIX, "\\0bramble-netns-${tag}")):
        try:
            s = socket.socket(fam); s.settimeout(0.5); s.connect(addr); reached += 1
        except OSError:
            pass
    time.sleep(0.04)
try:
    t = socket.socket(); t.bind(("127.0.0.1", ${port})); t.listen(1); bound = "ok"
except OSError as e:
    bound = str(e)
rep.write("reached: %d\\nbound: %s\\n" % (reached, bound))
EOF`,
      );
      const r = await build(engine, graph(listener, prober), [listener, prober], { jobs: 2 });
      const a = report(outOf(r, listener));
      const b = report(outOf(r, prober));
      const host = readlinkSync("/proc/self/ns/net");
      expect({ a, b: { ...b, netns: "" } }).toEqual({
        a: { netns: a.netns, ifaces: "lo", self: "ok", others: "0" },
        b: { netns: "", ifaces: "lo", reached: "0", bound: "ok" },
      });
      expect(new Set([a.netns, b.netns, host]).size).toBe(3);
    } finally {
      engine.close();
    }
  }, 60_000);

  /** The one process left in our cgroups once a build is drained: the spare prepared for the next build. */
  const theSpare = () =>
    until(() => {
      const p = inOurCgroups();
      return p.length === 1 ? p[0] : undefined;
    });

  it("is made ahead of time by a spare in the build's cgroup, which the build is handed to; no spare is left after close", async () => {
    const engine = tempEngine();
    try {
      const first = shDrv("spare-1", `exec python3 - <<'EOF'\n${netReport}\nEOF`);
      outOf(await build(engine, graph(first), [first]), first);
      // The build's own processes are drained; what is left in our cgroups is the spare
      // prepared for the next build.
      const spare = await theSpare();
      expect(spare).toBeGreaterThan(0);
      // It joins the cgroup first, then makes its network namespace.
      const host = readlinkSync("/proc/self/ns/net");
      const spareNet = await until(() => {
        const n = readlinkSync(`/proc/${spare}/ns/net`);
        return n !== host ? n : undefined;
      });
      expect(spareNet).toMatch(/^net:\[\d+\]$/);
      expect(spareNet).not.toBe(host);
      const second = shDrv("spare-2", `exec python3 - <<'EOF'\n${netReport}\nEOF`);
      const got = report(outOf(await build(engine, graph(second), [second]), second));
      expect(got).toEqual({ netns: spareNet, ifaces: "lo" });
      expect(existsSync(`/proc/${spare}`)).toBe(false);
      // Another spare waits for the build after; close kills it.
      const next = await theSpare();
      expect(next).not.toBe(spare);
      engine.close();
      expect(await until(() => (inOurCgroups().length === 0 && !existsSync(`/proc/${next}/ns`) ? true : undefined))).toBe(true);
    } finally {
      engine.close();
    }
  }, 60_000);

  it("of a networked build is the helper's too: slirp4netns joins it (lo and tap0), and nothing is started again", async () => {
    // bwrap 0.8's own loopback set-up failed now and then ("loopback: Failed RTM_NEWADDR") and
    // the sandbox was started again; the helper's namespace has lo up and bwrap does no set-up.
    // slirp4netns must be told to stay in this user namespace (it joins the sandbox's first,
    // which does not own the helper's network namespace): else the builders see lo alone.
    const engine = tempEngine();
    try {
      const drvs = Array.from({ length: 12 }, (_, i) => shDrv(`networked-${i}`, `grep -c : /proc/net/dev > $out`, { network: true }));
      const r = await build(engine, graph(...drvs), drvs, { jobs: 2 });
      expect(r.result.status, JSON.stringify(eventsOf(r.events, "failed"))).toBe("built");
      const retried = eventsOf(r.events, "log").filter((e) => /network set-up failed|RTM_NEWADDR/.test(e.line));
      expect(retried.map((e) => e.line)).toEqual([]);
      // lo and slirp4netns's tap0.
      for (const d of drvs) expect(readFileSync(r.result.outputs.get(derivationHash(d))!.out!, "utf8")).toBe("2\n");
    } finally {
      engine.close();
    }
  }, 120_000);
});
