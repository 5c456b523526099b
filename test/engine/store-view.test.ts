// The store view (core/builders/store-view.ts): a build's input closure through one idmapped
// directory of hard links instead of one bind mount per store path (issue 17).
import { spawnSync } from "node:child_process";
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { derivationHash } from "../../core/derivation/derivation.js";
import { bwrapArgv, withPidsLimit } from "../../core/builders/sandbox.js";
import { runLogged } from "../../core/builders/run.js";
import { dropStoreViews, linkStoreView, releaseStoreView, storeOverlayAvailable, storeViewArgv, storeViewAvailable } from "../../core/builders/store-view.js";
import { repo } from "../helpers/cli.js";
import { build, cleanupTemps, graph, ref, shDrv, tempDir, tempEngine } from "./helpers.js";

afterEach(cleanupTemps);

describe("store view", () => {
  it("is available here (root, perl, idmapped mounts), and under an overlay (the compiled helper): scripts/setup-speed.sh provides it", () => {
    expect(storeViewAvailable(tempDir())).toBe(true);
    expect(storeOverlayAvailable(tempDir())).toBe(true);
  });

  it("lays out directories recreated, files hard-linked and symlinks as symlinks with the same target", () => {
    const store = tempDir();
    mkdirSync(join(store, "aaa-dir/sub"), { recursive: true });
    writeFileSync(join(store, "aaa-dir/sub/f"), "in a directory\n");
    symlinkSync("../../bbb-file", join(store, "aaa-dir/sub/rel"));
    writeFileSync(join(store, "bbb-file"), "a file\n");
    symlinkSync("/", join(store, "ccc-root-link"));
    for (const p of ["aaa-dir/sub/f", "bbb-file"]) chmodSync(join(store, p), 0o444);
    for (const p of ["aaa-dir/sub", "aaa-dir"]) chmodSync(join(store, p), 0o555);
    const view = join(tempDir(), "view");
    mkdirSync(view);
    linkStoreView(view, store, ["aaa-dir", "bbb-file", "ccc-root-link"]);

    expect(readdirSync(view).sort()).toEqual(["aaa-dir", "bbb-file", "ccc-root-link"]);
    expect(statSync(join(view, "bbb-file")).ino).toBe(statSync(join(store, "bbb-file")).ino);
    expect(statSync(join(view, "aaa-dir/sub/f")).ino).toBe(statSync(join(store, "aaa-dir/sub/f")).ino);
    expect(statSync(join(view, "aaa-dir")).ino).not.toBe(statSync(join(store, "aaa-dir")).ino);
    expect(statSync(join(view, "aaa-dir")).mode & 0o7777).toBe(0o555);
    expect(readlinkSync(join(view, "ccc-root-link"))).toBe("/");
    expect(readlinkSync(join(view, "aaa-dir/sub/rel"))).toBe("../../bbb-file");
    expect(lstatSync(join(view, "ccc-root-link")).isSymbolicLink()).toBe(true);
    expect(statSync(view).mode & 0o7777).toBe(0o1777);
  });

  it("a reused view under an overlay links only what it lacks, found from the inputs, and falls back to the whole closure when its old inputs are not reached", () => {
    const store = tempDir();
    const [A, B, C, D] = ["a", "b", "c", "d"].map((c) => `${c.repeat(32)}-${c}`) as [string, string, string, string];
    for (const n of [A, B, C, D]) writeFileSync(join(store, n), `${n}\n`);
    const refs: Record<string, string[]> = { [A]: [], [B]: [A], [C]: [], [D]: [B] };
    const references = (n: string) => refs[n]!;
    const fresh = () => {
      const v = join(tempDir(), "view");
      mkdirSync(v);
      return v;
    };
    const v1 = fresh();
    linkStoreView(v1, store, [A, B], { overlay: true, inputs: [B], references });
    expect(releaseStoreView(v1, true)).toBe(true);
    // d's closure is the old view's and d: the whole closure is never asked for.
    const v2 = fresh();
    const c2 = linkStoreView(
      v2,
      store,
      () => {
        throw new Error("the whole closure was computed");
      },
      { overlay: true, inputs: [D], references },
    );
    expect(readdirSync(v2).sort()).toEqual([A, B, D]);
    expect([...c2.byHashPart.keys()].sort()).toEqual([A.slice(0, 32), B.slice(0, 32), D.slice(0, 32)]);
    expect(releaseStoreView(v2, true)).toBe(true);
    // c reaches none of the old inputs: the whole closure decides, and the rest goes.
    const v3 = fresh();
    const c3 = linkStoreView(v3, store, () => [C], { overlay: true, inputs: [C], references });
    expect(readdirSync(v3)).toEqual([C]);
    expect([...c3.names]).toEqual([C]);
    expect([...c3.byHashPart]).toEqual([[C.slice(0, 32), C]]);
    dropStoreViews();
  });

  for (const helper of ["compiled", "perl"]) {
    it(`shows the view's files as nobody's inside, and only inside (${helper} helper)`, () => {
      const view = join(tempDir(), "view");
      mkdirSync(view);
      writeFileSync(join(view, "f"), "x\n");
      const saved = process.env.BRAMBLE_STORE_VIEW_HELPER;
      process.env.BRAMBLE_STORE_VIEW_HELPER = helper === "perl" ? "perl" : "";
      try {
        const argv = storeViewArgv(view, ["/bin/sh", "-c", `stat -c %u:%g ${view}/f; grep -c ' ${view} ' /proc/self/mountinfo`]);
        expect(argv[0]).toBe(helper === "perl" ? "/usr/bin/perl" : join(repo, "dist/store-view-helper"));
        const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8" });
        expect(r.stderr).toBe("");
        expect(r.stdout).toBe("65534:65534\n1\n");
      } finally {
        if (saved === undefined) delete process.env.BRAMBLE_STORE_VIEW_HELPER;
        else process.env.BRAMBLE_STORE_VIEW_HELPER = saved;
      }
      // The host sees the file as it is, and no mount of the view.
      expect(statSync(join(view, "f")).uid).toBe(process.getuid!());
      expect(readFileSync("/proc/self/mountinfo", "utf8").includes(` ${view} `)).toBe(false);
    });
  }

  it("starts a sandbox in one exec of the compiled helper: in its pids cgroup, stderr in the log in the order written", async () => {
    const limited = withPidsLimit(["/bin/sh", "-c", "echo one; echo two >&2; echo three; grep -c bramble- /proc/self/cgroup"]);
    try {
      expect(limited.argv[0]).toBe(join(repo, "dist/store-view-helper"));
      expect(limited.argv.filter((a) => a === "/bin/sh")).toHaveLength(1);
      expect(limited.stderrMerged).toBe(true);
      const lines: string[] = [];
      const r = await runLogged(limited.argv, { log: (l) => lines.push(l), stderrMerged: limited.stderrMerged });
      expect(r.exitCode).toBe(0);
      expect(lines).toEqual(["one", "two", "three", "1"]);
      expect(await limited.drain()).toBe(true);
    } finally {
      limited.cleanup();
    }
    // The empty cgroup serves the next sandbox, with that sandbox's own budget.
    const cgroupOf = (argv: string[]) => argv[argv.indexOf("--cgroup") + 1]!;
    const next = withPidsLimit(["/bin/true"], 7);
    try {
      expect(cgroupOf(next.argv)).toBe(cgroupOf(limited.argv));
      expect(readFileSync(join(cgroupOf(next.argv), "../pids.max"), "utf8")).toBe("7\n");
    } finally {
      next.cleanup();
    }
    // A bad call is refused with a message, before anything runs.
    const bad = spawnSync(join(repo, "dist/store-view-helper"), ["--no-such-option", "--", "/bin/true"], { encoding: "utf8" });
    expect(bad.status).toBe(125);
    expect(bad.stderr).toMatch(/^usage: store-view-helper/);
  });

  it("mounts as much for 5,000 inputs as for one", () => {
    const spec = (n: number) => ({
      storeDir: "/s/store",
      storeMount: "/s/var/tmp/x/store",
      inputs: Array.from({ length: n }, (_, i) => `/s/store/${String(i).padStart(32, "0")}-p`),
      storeView: true,
      sandboxPaths: [],
      buildDir: "/s/var/tmp/x/build",
      cwd: "/build",
      env: {},
      network: false,
      command: ["/bin/true"],
    });
    const mounts = (argv: string[]) => argv.filter((a) => /^--(ro-)?bind(-try)?$|^--symlink$/.test(a)).length;
    expect(mounts(bwrapArgv(spec(5000)))).toBe(mounts(bwrapArgv(spec(1))));
    expect(bwrapArgv(spec(5000)).some((a) => a.includes("0000000000000000000000000004999-p"))).toBe(false);
  });

  it("a build sees its closure and nothing else of the store, cannot change an input, and its outputs come back as ours", async () => {
    const engine = tempEngine();
    const dir = shDrv("dir", "mkdir -p $out/sub; echo inner > $out/sub/file; ln -s sub/file $out/link");
    // It also leaves a file beside its output: the next build, which gets this view, must not see it.
    const file = shDrv("file", `echo "a file naming ${ref(dir)}" > $out; echo planted > $(dirname $out)/zzzzzzzz-planted`);
    const loop = shDrv("rootlink", "ln -s / $out");
    const stranger = shDrv("stranger", "echo not an input > $out");
    const script = [
      "mkdir $out",
      'try() { if sh -c "$1" 2>/dev/null; then echo "$2: done" >> $out/report; else echo "$2: denied" >> $out/report; fi; }',
      `cat ${ref(dir)}/link > $out/seen; cat $file >> $out/seen; readlink $rootlink >> $out/seen`,
      'ls $(dirname $out) | grep -v "$(basename $out)" | sed "s/^[a-z0-9]*-//" | sort > $out/names',
      `try 'chmod u+w ${ref(dir)}/sub/file' chmod-file`,
      `try 'chmod u+w ${ref(dir)}/sub' chmod-dir`,
      `try 'echo evil > ${ref(dir)}/sub/file' write`,
      `try 'rm -f $file' rm`,
      `try 'mv ${ref(dir)} $(dirname $out)/moved' mv`,
      `try 'ln $file $(dirname $out)/hardlink' hardlink`,
      `try 'touch ${ref(dir)}/planted' plant`,
    ].join("\n");
    const user = shDrv("user", script, { env: { PATH: "/usr/bin:/bin", file: ref(file), rootlink: ref(loop) } });
    await build(engine, graph(dir, file), [file], { jobs: 1 });
    const r = await build(engine, graph(dir, file, loop, stranger, user), [user, stranger], { jobs: 1 });
    expect(r.result.status, JSON.stringify(r.events.filter((e) => e.type === "failed"))).toBe("built");
    const out = r.result.outputs.get(derivationHash(user))!.out!;
    const dirOut = r.result.outputs.get(derivationHash(dir))!.out!;
    expect(readFileSync(join(out, "seen"), "utf8")).toBe(`inner\na file naming ${dirOut}\n/\n`);
    // Its closure only: the three inputs (the file's closure holds the directory), not the stranger.
    expect(readFileSync(join(out, "names"), "utf8")).toBe("dir\nfile\nrootlink\n");
    expect(readFileSync(join(out, "report"), "utf8")).toBe(
      ["chmod-file", "chmod-dir", "write", "rm", "mv", "hardlink", "plant"].map((k) => `${k}: denied\n`).join(""),
    );
    expect(readFileSync(join(dirOut, "sub/file"), "utf8")).toBe("inner\n");
    expect(statSync(join(dirOut, "sub/file")).mode & 0o777).toBe(0o444);
    // Finished builds' views wait in var/tmp for the next build; dropped, the store's files have
    // their one link again and var/tmp is empty.
    expect(readdirSync(engine.layout.tmpDir).every((e) => /^\d+-view-\d+$/.test(e))).toBe(true);
    dropStoreViews();
    expect(statSync(join(dirOut, "sub/file")).nlink).toBe(1);
    expect(readdirSync(engine.layout.tmpDir)).toEqual([]);
    for (const p of [out, join(out, "report")]) {
      expect(lstatSync(p).uid).toBe(process.getuid!());
      expect(lstatSync(p).gid).toBe(process.getgid!());
    }
    expect(await engine.store.verify({})).toEqual([]);
    engine.close();
  });
});
