// What a builder can and cannot see or touch inside the bubblewrap sandbox.
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { derivationHash } from "../../core/derivation/derivation.js";
import { openEngine } from "../../core/build/engine.js";
import { hashSources } from "../../core/store/sources.js";
import { outsideHost } from "../helpers/outside-host.js";
import { build, cleanupTemps, eventsOf, graph, ref, shDrv, tempDir, tempEngine } from "./helpers.js";

afterEach(cleanupTemps);

/** This machine's first non-loopback IPv4 address (what a build with a network of its own can reach). */
function listen(host = "127.0.0.1"): Promise<{ port: number; hits: () => number; close: () => void }> {
  return new Promise((resolve) => {
    let hits = 0;
    const server = createServer((s) => {
      hits++;
      s.on("error", () => undefined); // a client that resets (curl with network) is no failure
      s.end("hi\n");
    });
    server.listen(0, host, () => {
      const port = (server.address() as { port: number }).port;
      resolve({ port, hits: () => hits, close: () => server.close() });
    });
  });
}

describe("sandbox", () => {
  it("has no network unless the derivation asks for it", async () => {
    const engine = tempEngine();
    const srv = await listen();
    try {
      const probe = `mkdir $out; cat /proc/net/dev > $out/ifaces; if bash -c 'exec 3<>/dev/tcp/127.0.0.1/${srv.port}'; then echo connected > $out/result; else echo refused > $out/result; fi`;
      const closed = shDrv("closed", probe);
      const r = await build(engine, graph(closed), [closed]);
      expect(r.result.status).toBe("built");
      const out = r.result.outputs.get(derivationHash(closed))!.out!;
      expect(readFileSync(`${out}/result`, "utf8")).toBe("refused\n");
      // Only the loopback interface of a fresh network namespace.
      const ifaces = readFileSync(`${out}/ifaces`, "utf8")
        .split("\n")
        .slice(2)
        .filter(Boolean)
        .map((l) => l.trim().split(":")[0]);
      expect(ifaces).toEqual(["lo"]);
      expect(srv.hits()).toBe(0);
    } finally {
      srv.close();
      engine.close();
    }
  });

  it("a build with the network has a namespace of its own: the outside, not the host's loopback", async () => {
    const engine = tempEngine();
    const srv = await listen("0.0.0.0");
    // Another machine (a network namespace behind a veth pair): this host's own LAN address is
    // no outside, a build reaches no service of this host (docs/sandbox.md).
    const outside = await outsideHost();
    try {
      const tryConnect = (host: string, label: string, port = srv.port) =>
        `if bash -c 'exec 3<>/dev/tcp/${host}/${port}' 2>/dev/null; then echo "${label}: connected" >> $out/result; else echo "${label}: refused" >> $out/result; fi`;
      const probe = [
        "mkdir $out; cat /proc/net/dev > $out/ifaces; cat /proc/net/unix > $out/unix",
        tryConnect("127.0.0.1", "loopback"),
        tryConnect("10.0.2.2", "host-loopback-via-gateway"),
        tryConnect(outside.address, "outside", outside.port),
      ].join("\n");
      const open = shDrv("open", probe, { network: true });
      const r = await build(engine, graph(open), [open]);
      expect(r.result.status, JSON.stringify(eventsOf(r.events, "failed"))).toBe("built");
      const out = r.result.outputs.get(derivationHash(open))!.out!;
      expect(readFileSync(`${out}/result`, "utf8")).toBe("loopback: refused\nhost-loopback-via-gateway: refused\noutside: connected\n");
      const ifaces = readFileSync(`${out}/ifaces`, "utf8")
        .split("\n")
        .slice(2)
        .filter(Boolean)
        .map((l) => l.trim().split(":")[0])
        .sort();
      expect(ifaces).toEqual(["lo", "tap0"]);
      // No unix socket of the host (abstract or not) in its namespace: only the header line.
      expect(readFileSync(`${out}/unix`, "utf8").trim().split("\n")).toHaveLength(1);
      expect(srv.hits()).toBe(0);
      // The outside server reports each connection on its stdout: it may come after the build ends.
      await expect.poll(() => outside.hits(), { timeout: 10_000 }).toBe(1);
    } finally {
      srv.close();
      outside.close();
      engine.close();
    }
  });

  it("a derivation that sees host paths is impure: --pure refuses it and what depends on it before anything builds", async () => {
    const engine = tempEngine();
    const a = shDrv("impure-a", "echo a > $out");
    expect(Object.keys(a.hostPaths ?? {}).sort()).toEqual(["/bin", "/lib", "/lib64", "/usr"]);
    // Its host paths are part of its hash: the same recipe without them is another derivation.
    const { hostPaths: _, ...bare } = a;
    expect(derivationHash(bare)).not.toBe(derivationHash(a));
    const b = shDrv("impure-b", `cat ${ref(a)} > $out`);
    const r = await build(engine, graph(a, b), [b], { pure: true });
    expect(r.result.status).toBe("failed");
    expect(eventsOf(r.events, "started")).toEqual([]);
    expect(
      eventsOf(r.events, "failed")
        .map((f) => f.error)
        .sort(),
    ).toEqual([
      "impure-a is impure: it sees the host paths /bin, /lib, /lib64, /usr (sandbox_paths), and --pure refuses impure derivations",
      "impure-b is impure: it sees the host paths /bin, /lib, /lib64, /usr (sandbox_paths), and --pure refuses impure derivations",
    ]);
    expect(readdirSync(engine.store.dir).filter((n) => n.includes("impure"))).toEqual([]);
    engine.close();
  });

  it("cannot write outside its outputs and build directory", async () => {
    const engine = tempEngine();
    const a = shDrv("a", "mkdir $out; echo original > $out/file");
    const script = [
      "mkdir $out",
      'try() { if sh -c "$1" 2>/dev/null; then echo "$2: written" >> $out/report; else echo "$2: denied" >> $out/report; fi; }',
      `try 'echo x > ${ref(a)}/file' input`,
      "try 'echo x > /usr/bramble-evil' usr",
      "try 'echo x > /build/scratch' build",
      "try 'echo x > /tmp/scratch' tmp",
      "try 'echo x > /evil' root",
      "echo sneaky > $(dirname $out)/sneaky || true",
    ].join("\n");
    const b = shDrv("b", script);
    const r = await build(engine, graph(a, b), [b]);
    expect(r.result.status).toBe("built");
    const report = readFileSync(`${r.result.outputs.get(derivationHash(b))!.out!}/report`, "utf8");
    expect(report).toBe("input: denied\nusr: denied\nbuild: written\ntmp: written\nroot: denied\n");
    expect(readFileSync(`${r.result.outputs.get(derivationHash(a))!.out!}/file`, "utf8")).toBe("original\n");
    expect(readdirSync(engine.store.dir).filter((n) => n.includes("sneaky"))).toEqual([]);
    engine.close();
  });

  it("cannot read the host's home or environment", async () => {
    const engine = tempEngine();
    const home = tempDir("bramble-home-");
    writeFileSync(join(home, "secret.txt"), "top secret\n");
    process.env.BRAMBLE_TEST_SECRET = "leaked";
    try {
      const d = shDrv(
        "peek",
        `mkdir $out; cat ${home}/secret.txt > $out/secret 2>&1 || echo unreadable > $out/secret; ls / > $out/root; env | sort > $out/env`,
      );
      const r = await build(engine, graph(d), [d]);
      const out = r.result.outputs.get(derivationHash(d))!.out!;
      expect(readFileSync(`${out}/secret`, "utf8")).toBe("unreadable\n");
      const root = readFileSync(`${out}/root`, "utf8").trim().split("\n");
      // Only what the sandbox mounts: the declared host paths, /build, /dev, /proc, /tmp.
      expect(root.filter((e) => !["bin", "build", "dev", "lib", "lib64", "proc", "tmp", "usr"].includes(e))).toEqual([]);
      const env = Object.fromEntries(
        readFileSync(`${out}/env`, "utf8")
          .trim()
          .split("\n")
          .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
      );
      expect(env.BRAMBLE_TEST_SECRET).toBeUndefined();
      expect(env.HOME).toBe("/homeless-shelter");
      expect(env.TMPDIR).toBe("/tmp");
      expect(env.system).toBe(d.system);
      expect(env.platform).toBe(d.platform);
      expect(env.out!.startsWith(engine.store.dir + "/")).toBe(true);
      expect(env.PATH).toBe("/usr/bin:/bin");
    } finally {
      delete process.env.BRAMBLE_TEST_SECRET;
      engine.close();
    }
  });

  it("the same derivation under two BRAMBLE_PATHs gets the same output hash", async () => {
    const homes = [join(tempDir(), "h"), join(tempDir(), "a-much-longer-bramble-home")];
    const a = shDrv("dep", "mkdir -p $out/bin; printf '#!/bin/sh\\necho dep\\n' > $out/bin/dep; chmod +x $out/bin/dep");
    // Refers to itself and to its dependency by absolute path.
    const b = shDrv("app", `mkdir $out; echo "self=$out dep=${ref(a)}/bin/dep" > $out/paths; ln -s $out/paths $out/link`);
    const seen: { name: string; hash: string }[][] = [];
    for (const h of homes) {
      const engine = openEngine(h);
      const r = await build(engine, graph(a, b), [b]);
      expect(r.result.status).toBe("built");
      const outs = engine.db.outputsOf(derivationHash(b));
      const text = readFileSync(`${outs[0]!.path}/paths`, "utf8");
      expect(text).toBe(`self=${outs[0]!.path} dep=${engine.db.outputsOf(derivationHash(a))[0]!.path}/bin/dep\n`);
      seen.push(outs.map((o) => ({ name: o.path.slice(engine.store.dir.length + 1), hash: o.hash })));
      expect(engine.store.verifySync({})).toEqual([]);
      engine.close();
    }
    expect(seen[0]).toEqual(seen[1]);
  });

  it("copies sources, runs in their directory, and refuses changed sources", async () => {
    const engine = tempEngine();
    const project = tempDir("bramble-proj-");
    mkdirSync(join(project, "sub"));
    writeFileSync(join(project, "sub", "input.txt"), "from the source tree\n");
    writeFileSync(join(project, "top.txt"), "top\n");
    const files = ["sub/input.txt", "top.txt"];
    const d = shDrv("src", "mkdir $out; pwd > $out/cwd; cat input.txt ../top.txt > $out/copy", {
      sources: { hash: hashSources(project, files), dir: "sub", files },
    });
    const r = await build(engine, graph(d), [d], { projectRoot: project });
    const out = r.result.outputs.get(derivationHash(d))!.out!;
    expect(readFileSync(`${out}/cwd`, "utf8")).toBe("/build/sub\n");
    expect(readFileSync(`${out}/copy`, "utf8")).toBe("from the source tree\ntop\n");

    writeFileSync(join(project, "top.txt"), "edited\n");
    const d2 = shDrv("src2", "echo > $out", { sources: { hash: hashSources(project, ["top.txt"]), dir: "", files: ["top.txt"] } });
    writeFileSync(join(project, "top.txt"), "edited again\n");
    const r2 = await build(engine, graph(d2), [d2], { projectRoot: project });
    expect(r2.result.status).toBe("failed");
    expect(eventsOf(r2.events, "failed")[0]!.error).toContain("source files changed");
    engine.close();
  });

  it("stores outputs read-only, without setuid bits, with fixed times", async () => {
    const engine = tempEngine();
    const d = shDrv("modes", "mkdir -p $out/d; echo x > $out/d/f; chmod 4755 $out/d/f; echo y > $out/g; chmod 666 $out/g");
    const r = await build(engine, graph(d), [d]);
    const out = r.result.outputs.get(derivationHash(d))!.out!;
    expect(statSync(`${out}/d/f`).mode & 0o7777).toBe(0o555);
    expect(statSync(`${out}/g`).mode & 0o7777).toBe(0o444);
    expect(statSync(`${out}/d`).mode & 0o7777).toBe(0o555);
    expect(statSync(out).mode & 0o7777).toBe(0o555);
    expect(statSync(`${out}/g`).mtimeMs).toBe(1000);
    engine.close();
  });

  it("a builder that creates no output fails", async () => {
    const engine = tempEngine();
    const d = shDrv("lazy", "echo did nothing");
    const r = await build(engine, graph(d), [d]);
    expect(r.result.status).toBe("failed");
    expect(eventsOf(r.events, "failed")[0]!.error).toContain("did not create output out");
    engine.close();
  });

  it("outputs of one build may refer to each other: references recorded, hashes stable, verify passes", async () => {
    const hashes: string[][] = [];
    for (const h of [join(tempDir(), "h1"), join(tempDir(), "second-home")]) {
      const engine = openEngine(h);
      const d = shDrv("multi", "mkdir $out $dev; echo $dev > $out/dev-is; echo $out > $dev/out-is; ln -s $dev/out-is $out/link", { outputs: ["out", "dev"] });
      const r = await build(engine, graph(d), [d]);
      expect(r.result.status).toBe("built");
      const outs = r.result.outputs.get(derivationHash(d))!;
      expect(readFileSync(`${outs.out}/dev-is`, "utf8")).toBe(`${outs.dev}\n`);
      expect(readFileSync(`${outs.dev}/out-is`, "utf8")).toBe(`${outs.out}\n`);
      const info = engine.db.outputsOf(derivationHash(d));
      const out = info.find((o) => o.name === "out")!;
      const dev = info.find((o) => o.name === "dev")!;
      expect(out.references).toContain(dev.path);
      expect(dev.references).toContain(out.path);
      expect(dev.path.endsWith("-multi-dev")).toBe(true);
      expect(engine.store.verifySync({})).toEqual([]);
      hashes.push(info.map((o) => `${o.name}:${o.hash}:${o.path.slice(engine.store.dir.length)}`));
      engine.close();
    }
    expect(hashes[0]).toEqual(hashes[1]);
  });
});
