// Sandbox escapes: builders that try to reach the network, write into the store, read the
// host's secrets, signal host processes, smuggle a setuid binary or a device node into the
// store, fill the disk, fork-bomb, or never exit. Each must fail to escape.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { derivationHash, type Derivation } from "../../core/derivation/derivation.js";
import type { Engine } from "../../core/build/engine.js";
import { build, cleanupTemps, eventsOf, graph, ref, shDrv, tempDir } from "../engine/helpers.js";
import { bramble, freshHome } from "../helpers/cli.js";
import { enginesClosedAfterAll } from "../helpers/backend-fixtures.js";
import { lines, TRY } from "./probes.js";
import { record } from "./record.js";

afterEach(cleanupTemps);

const engine = enginesClosedAfterAll();

/** Builds one derivation and returns the text of `$out/<file>` (the probe's report). */
async function probe(e: Engine, drv: Derivation, file = "report", deps: Derivation[] = []): Promise<string> {
  const r = await build(e, graph(...deps, drv), [drv]);
  expect(r.result.status, JSON.stringify(eventsOf(r.events, "failed"))).toBe("built");
  return readFileSync(join(r.result.outputs.get(derivationHash(drv))!.out!, file), "utf8");
}

describe("sandbox escapes", () => {
  it("cannot reach a TCP listener on the host's 127.0.0.1, nor resolve or send DNS", async () => {
    const e = engine();
    let tcpHits = 0;
    let udpHits = 0;
    const tcp = createServer((s) => {
      tcpHits++;
      s.end();
    });
    await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", () => r()));
    const udp = createSocket("udp4");
    udp.on("message", () => udpHits++);
    await new Promise<void>((r) => udp.bind(0, "127.0.0.1", () => r()));
    const tcpPort = (tcp.address() as { port: number }).port;
    const udpPort = udp.address().port;
    try {
      const d = shDrv(
        "net",
        [
          TRY.replace('sh -c "$1"', 'bash -c "$1"'),
          `try 'exec 3<>/dev/tcp/127.0.0.1/${tcpPort}' tcp`,
          // A UDP send succeeds locally (the sandbox's own lo); what matters is that the host never receives it.
          `echo query > /dev/udp/127.0.0.1/${udpPort}`,
          "try 'getent hosts example.com' dns",
          "try 'test -e /etc/resolv.conf' resolvconf",
          "try 'exec 3<>/dev/tcp/1.1.1.1/53' internet",
        ].join("\n"),
        { builder: "/bin/bash" },
      );
      const report = lines(await probe(e, d));
      await new Promise((r) => setTimeout(r, 200));
      const held = Object.values(report).every((v) => v === "denied") && tcpHits === 0 && udpHits === 0;
      record({
        area: "sandbox",
        attack: "network: TCP to the host's 127.0.0.1 listener, UDP/DNS, the internet",
        tries: 5,
        held,
        detail: `TCP, getent and 1.1.1.1 failed, the UDP packet never left; the host listeners saw ${tcpHits + udpHits} connections`,
      });
      expect(report).toEqual({ tcp: "denied", dns: "denied", resolvconf: "denied", internet: "denied" });
      expect(tcpHits + udpHits).toBe(0);
    } finally {
      tcp.close();
      udp.close();
    }
  });

  it("cannot write into the store, into its inputs, or into an output it does not depend on", async () => {
    const e = engine();
    const victim = shDrv("victim", "mkdir $out; echo original > $out/file");
    const input = shDrv("input", "mkdir $out; echo original > $out/file");
    const r0 = await build(e, graph(victim, input), [victim, input]);
    const victimPath = r0.result.outputs.get(derivationHash(victim))!.out!;
    const inputPath = r0.result.outputs.get(derivationHash(input))!.out!;
    const before = readdirSync(e.store.dir).sort();
    const attacker = shDrv(
      "attacker",
      [
        TRY,
        `try 'echo evil > ${victimPath}/file' victim-file`,
        `try 'rm -r ${victimPath}' victim-rm`,
        `try 'ls ${victimPath}' victim-visible`,
        `try 'echo evil > ${ref(input)}/file' input-file`,
        `try 'chmod u+w ${ref(input)}/file' input-chmod`,
        `try 'mv ${ref(input)} ${e.store.dir}/moved' input-mv`,
        `try 'echo evil > ${e.store.layout.varDir}/bramble.db' db`,
        `try 'echo evil > ${e.store.dir}/../var/bramble.db' db-relative`,
        // Written beside $out in the sandbox's own store directory: must never reach the store.
        `echo planted > $(dirname $out)/${victimPath.split("/").pop()!.replace(/^.{4}/, "zzzz")}`,
      ].join("\n"),
      { env: { PATH: "/usr/bin:/bin", dep: ref(input) } },
    );
    const report = lines(await probe(e, attacker, "report", [input]));
    const after = readdirSync(e.store.dir)
      .filter((n) => !n.includes("attacker"))
      .sort();
    const intact = readFileSync(join(victimPath, "file"), "utf8") === "original\n" && readFileSync(join(inputPath, "file"), "utf8") === "original\n";
    const verify = e.store.verifySync({});
    const held = Object.values(report).every((v) => v === "denied") && intact && JSON.stringify(after) === JSON.stringify(before);
    record({
      area: "sandbox",
      attack: "writing into the store, an input, an unrelated output, the DB",
      tries: Object.keys(report).length + 1,
      held,
      detail: "non-inputs invisible, inputs read-only, files planted beside $out discarded, store verify clean",
    });
    expect(report).toEqual({
      "victim-file": "denied",
      "victim-rm": "denied",
      "victim-visible": "denied",
      "input-file": "denied",
      "input-chmod": "denied",
      "input-mv": "denied",
      db: "denied",
      "db-relative": "denied",
    });
    expect(intact).toBe(true);
    expect(after).toEqual(before);
    expect(verify).toEqual([]);
  });

  it("cannot read $HOME, /root, /etc/shadow or the host's /proc", async () => {
    const e = engine();
    const secret = `secret-${randomBytes(8).toString("hex")}`;
    const secretFile = join(homedir(), `.bramble-reliability-${process.pid}`);
    writeFileSync(secretFile, secret + "\n");
    try {
      const d = shDrv(
        "reader",
        [
          TRY,
          `try 'cat ${secretFile}' home-file`,
          `try 'ls ${homedir()}' home-dir`,
          "try 'ls /root' root",
          "try 'cat /etc/shadow' shadow",
          "try 'cat /etc/passwd' passwd",
          `try 'test -e /proc/${process.pid}' host-pid`,
          `try 'cat /proc/${process.pid}/environ' host-environ`,
          "try 'echo 1 > /proc/sys/kernel/sysrq' proc-sys",
          "try 'cat /sys/fs/cgroup/pids/pids.max' sysfs",
          "cat /proc/1/cmdline | tr '\\0' ' ' > $out/init; ls /proc | grep -c '^[0-9]' > $out/pids; env > $out/env",
        ].join("\n"),
      );
      const r = await build(e, graph(d), [d]);
      const out = r.result.outputs.get(derivationHash(d))!.out!;
      const report = lines(readFileSync(join(out, "report"), "utf8"));
      const everything =
        ["report", "init", "pids", "env"].map((f) => readFileSync(join(out, f), "utf8")).join("\n") + r.events.map((x) => JSON.stringify(x)).join("\n");
      const pids = Number(readFileSync(join(out, "pids"), "utf8"));
      const hostInit = readFileSync("/proc/1/cmdline", "latin1").split("\0")[0]!;
      const sandboxInit = readFileSync(join(out, "init"), "utf8");
      const held = Object.values(report).every((v) => v === "denied") && !everything.includes(secret) && pids < 10 && !sandboxInit.startsWith(hostInit);
      record({
        area: "sandbox",
        attack: "reading $HOME, /root, /etc/shadow, /etc/passwd, the host's /proc and /sys",
        tries: Object.keys(report).length,
        held,
        detail: `none visible; the sandbox's /proc shows ${pids} processes (its own pid namespace)`,
      });
      expect(report).toEqual({
        "home-file": "denied",
        "home-dir": "denied",
        root: "denied",
        shadow: "denied",
        passwd: "denied",
        "host-pid": "denied",
        "host-environ": "denied",
        "proc-sys": "denied",
        sysfs: "denied",
      });
      expect(everything).not.toContain(secret);
      expect(pids).toBeLessThan(10);
      expect(sandboxInit.startsWith(hostInit)).toBe(false);
    } finally {
      rmSync(secretFile, { force: true });
    }
  });

  it("a symlink in the sources pointing outside the project does not leak the target", () => {
    const home = freshHome();
    const outside = tempDir("bramble-outside-");
    const secret = `secret-${randomBytes(8).toString("hex")}`;
    writeFileSync(join(outside, "secret.txt"), secret + "\n");
    const proj = tempDir("bramble-proj-");
    writeFileSync(join(proj, "bramble.toml"), '[package]\nname = "leak"\n\n[build]\nsandbox_paths = ["/bin", "/usr", "/lib", "/lib64"]\n');
    symlinkSync(join(outside, "secret.txt"), join(proj, "abs-link"));
    symlinkSync("../../../../../../../../" + join(outside, "secret.txt"), join(proj, "rel-link"));
    symlinkSync(outside, join(proj, "dir-link"));
    writeFileSync(
      join(proj, "default.bramble"),
      `def default():
    return derivation(
        name = "leak",
        builder = "/bin/sh",
        args = ["-c", "mkdir $out; for f in abs-link rel-link dir-link/secret.txt; do cat $f >> $out/got 2>/dev/null || echo denied >> $out/got; done; cp -P abs-link $out/link"],
        sources = files(["*-link"], allow_empty = True),
    )
`,
    );
    const r = bramble(["build", `${proj}:default`], { home, cwd: proj });
    const text = r.stdout + r.stderr;
    const storeDir = readdirSync(home).find((n) => n.startsWith("store_"))!;
    const outs = readdirSync(join(home, storeDir)).filter((n) => n.endsWith("-leak"));
    let got = "";
    for (const o of outs) got += readFileSync(join(home, storeDir, o, "got"), "utf8");
    const held = !text.includes(secret) && !got.includes(secret);
    record({
      area: "sandbox",
      attack: "symlinks in the sources (absolute, ../.., to a directory) pointing outside",
      tries: 3,
      held,
      detail: r.code === 0 ? "copied as symlinks that dangle inside the sandbox: the target's content never read" : `refused: ${text.trim().split("\n").pop()}`,
    });
    expect(text).not.toContain(secret);
    expect(got).not.toContain(secret);
  });

  it("a setuid/setgid binary in the output is stored without the bits; device nodes and FIFOs never reach the store", async () => {
    const e = engine();
    const suid = shDrv("suid", "mkdir $out; cp /bin/sh $out/sh; chmod 6755 $out/sh; mkdir $out/d; chmod 1777 $out/d");
    const r = await build(e, graph(suid), [suid]);
    const out = r.result.outputs.get(derivationHash(suid))!.out!;
    const mode = statSync(join(out, "sh")).mode;
    const dmode = statSync(join(out, "d")).mode;

    const dev = shDrv(
      "dev",
      [
        TRY,
        "try 'mknod $out/null c 1 3' mknod",
        "try 'cat /dev/vda' vda",
        "try 'test -e /dev/mem' mem",
        "try 'test -e /dev/kmsg' kmsg",
        "try 'head -c1 /dev/sda' sda",
      ].join("\n"),
    );
    const devReport = lines(await probe(e, dev));
    const fifo = shDrv("fifo", "mkdir $out; mkfifo $out/pipe");
    const rf = await build(e, graph(fifo), [fifo]);
    const fifoStored = readdirSync(e.store.dir).some((n) => n.endsWith("-fifo"));
    const held =
      (mode & 0o7000) === 0 && (dmode & 0o7000) === 0 && Object.values(devReport).every((v) => v === "denied") && rf.result.status === "failed" && !fifoStored;
    record({
      area: "sandbox",
      attack: "setuid/setgid/sticky bits, mknod, host block devices, a FIFO in the output",
      tries: 3 + Object.keys(devReport).length,
      held,
      detail: `stored as ${(mode & 0o7777).toString(8)}; mknod and host devices denied; the FIFO failed the build: ${eventsOf(rf.events, "failed")[0]?.error ?? "?"}`,
    });
    expect(mode & 0o7000).toBe(0);
    expect(dmode & 0o7000).toBe(0);
    expect(devReport).toEqual({ mknod: "denied", vda: "denied", mem: "denied", kmsg: "denied", sda: "denied" });
    expect(rf.result.status).toBe("failed");
    expect(fifoStored).toBe(false);
  });

  it("cannot signal processes outside the sandbox", async () => {
    const e = engine();
    const victim = spawn("sleep", ["120"], { stdio: "ignore" });
    try {
      const d = shDrv(
        "killer",
        [TRY, `try 'kill -9 ${victim.pid}' kill-pid`, `try 'kill -9 -1' kill-all`, `try 'kill -STOP ${process.pid}' stop-parent`].join("\n"),
      );
      const r = await build(e, graph(d), [d]);
      await new Promise((res) => setTimeout(res, 300));
      const alive = victim.exitCode === null && victim.signalCode === null;
      let report: Record<string, string> = {};
      if (r.result.status === "built") report = lines(readFileSync(join(r.result.outputs.get(derivationHash(d))!.out!, "report"), "utf8"));
      // kill -9 -1 inside the sandbox may kill the builder itself (its own namespace): that is fine.
      const held = alive && report["kill-pid"] !== "ok" && report["stop-parent"] !== "ok";
      record({
        area: "sandbox",
        attack: "signalling host processes (kill -9 PID, kill -9 -1, SIGSTOP the parent)",
        tries: 3,
        held,
        detail: `the host process survived; the sandbox's pid namespace hides it (build ${r.result.status})`,
      });
      expect(alive).toBe(true);
      expect(report["kill-pid"]).not.toBe("ok");
      expect(report["stop-parent"]).not.toBe("ok");
    } finally {
      victim.kill("SIGKILL");
    }
  });

  it("a builder filling its disk fails, and a build running beside it succeeds", async () => {
    const e = engine();
    const prev = process.env.BRAMBLE_SANDBOX_TMP_SIZE;
    process.env.BRAMBLE_SANDBOX_TMP_SIZE = String(32 << 20);
    try {
      const filler = shDrv("filler", "dd if=/dev/zero of=/tmp/fill bs=1M count=100000 2>&1; echo 'dd exited'; exit 1");
      const other = shDrv("other", "sleep 1; echo fine > $out");
      const r = await build(e, graph(filler, other), [filler, other], { keepGoing: true, jobs: 2 });
      const failed = eventsOf(r.events, "failed").map((f) => f.hash);
      const log = eventsOf(r.events, "log")
        .filter((l) => l.hash === derivationHash(filler))
        .map((l) => l.line)
        .join("\n");
      const otherBuilt = r.result.outputs.has(derivationHash(other));
      const held = failed.includes(derivationHash(filler)) && otherBuilt && /No space left/.test(log);
      record({
        area: "sandbox",
        attack: "filling the disk (/tmp inside the sandbox)",
        tries: 1,
        held,
        detail: `the sandbox's tmpfs is capped (BRAMBLE_SANDBOX_TMP_SIZE, default 4 GiB): "No space left on device", the build failed, the one beside it was built`,
      });
      expect(log).toMatch(/No space left/);
      expect(failed).toContain(derivationHash(filler));
      expect(otherBuilt).toBe(true);
    } finally {
      if (prev === undefined) delete process.env.BRAMBLE_SANDBOX_TMP_SIZE;
      else process.env.BRAMBLE_SANDBOX_TMP_SIZE = prev;
    }
  });

  it("a fork bomb is limited to the build's process budget and dies with the build", async () => {
    const e = engine();
    const prev = process.env.BRAMBLE_SANDBOX_PIDS;
    process.env.BRAMBLE_SANDBOX_PIDS = "64";
    try {
      // Counts how many processes it can start before fork fails.
      const count = shDrv(
        "forks",
        "(n=0; while [ $n -lt 500 ]; do sleep 30 >/dev/null 2>&1 </dev/null & n=$((n+1)); echo $n > $out; done) 2>/dev/null; exit 0",
      );
      const r1 = await build(e, graph(count), [count]);
      const started = Number(readFileSync(r1.result.outputs.get(derivationHash(count))!.out!, "utf8"));
      // The real thing: a bomb that never ends, stopped by the timeout; nothing of it survives.
      const bomb = shDrv("bomb", "b() { b | b & }; b; sleep 1000");
      const before = Date.now();
      const r2 = await build(e, graph(bomb), [bomb], { timeoutMs: 4000 });
      const took = Date.now() - before;
      await new Promise((res) => setTimeout(res, 500));
      const leftovers = spawnSync("sh", ["-c", "ps -eo args | grep -c '^/bin/sh -c b() { b | b'"], { encoding: "utf8" }).stdout.trim();
      const held = started < 64 && r2.result.status === "failed" && Number(leftovers) === 0;
      record({
        area: "sandbox",
        attack: "a fork bomb",
        tries: 2,
        held,
        detail: `a builder could start ${started} of 500 processes under a budget of 64 (BRAMBLE_SANDBOX_PIDS, default 4096, a pids cgroup); the bomb (\`b() { b | b & }\`) failed the build after ${(took / 1000).toFixed(1)} s (timeout 4 s) with nothing left running`,
      });
      expect(started).toBeLessThan(64);
      expect(r2.result.status).toBe("failed");
      expect(Number(leftovers)).toBe(0);
    } finally {
      if (prev === undefined) delete process.env.BRAMBLE_SANDBOX_PIDS;
      else process.env.BRAMBLE_SANDBOX_PIDS = prev;
    }
  });

  it("a builder that never exits is stopped by --timeout and by bramble.toml's [build] timeout", () => {
    const results: string[] = [];
    let held = true;
    for (const how of ["flag", "toml"] as const) {
      const home = freshHome();
      const proj = tempDir("bramble-proj-");
      const marker = randomBytes(6).toString("hex");
      writeFileSync(
        join(proj, "bramble.toml"),
        `[package]\nname = "hang"\n\n[build]\nsandbox_paths = ["/bin", "/usr", "/lib", "/lib64"]\n${how === "toml" ? "timeout = 2\n" : ""}`,
      );
      writeFileSync(
        join(proj, "default.bramble"),
        `def default():\n    return derivation(name = "hang", builder = "/bin/sh", args = ["-c", "echo ${marker}; exec sleep 1000"])\n`,
      );
      const start = Date.now();
      const r = bramble(["build", `${proj}:default`, ...(how === "flag" ? ["--timeout", "2"] : [])], { home, cwd: proj, timeoutMs: 60_000 });
      const took = Date.now() - start;
      const leftover = spawnSync("pgrep", ["-f", "sleep 1000"], { encoding: "utf8" }).stdout.trim();
      const storeDir = readdirSync(home).find((n) => n.startsWith("store_"))!;
      const stored = readdirSync(join(home, storeDir)).some((n) => n.endsWith("-hang"));
      const ok = r.code === 1 && /timed out/.test(r.stdout + r.stderr) && !stored && took < 50_000;
      held &&= ok;
      results.push(`${how}: exit ${r.code} after ${(took / 1000).toFixed(1)} s`);
      expect(r.stdout + r.stderr).toMatch(/timed out/);
      expect(r.code).toBe(1);
      expect(stored).toBe(false);
      void leftover;
    }
    record({
      area: "sandbox",
      attack: "a builder that never exits (--timeout 2, [build] timeout = 2)",
      tries: 2,
      held,
      detail: `"timed out", nothing stored (${results.join("; ")})`,
    });
  });
});
