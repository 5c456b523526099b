// examples/cross on the seed library's C toolchain: built natively, cross-compiled for
// aarch64-linux and run there on qemu with aarch64 busybox, with no host path at all, each
// passing --check; and the same output bytes from two BRAMBLE_PATHs while a different (fake)
// host gcc is visible.
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createContext, evaluate } from "../../core/project/evaluate.js";
import { readProject } from "../../core/project/project.js";
import { StarlarkError } from "../../core/starlark/index.js";
import { bramble, cli, ensureCli, freshHome, repo } from "../helpers/cli.js";

// Content-addressed output names: the same on every machine and under every BRAMBLE_PATH,
// whatever compilers the host has. They change only when the output bytes change.
const NATIVE = { "hello-c": "gxx3yjmdhb5y61pdb1sbr9nm0q1f3qg0-hello-c", "hello-c-run": "b812flfjv56kbd0vxf3mvigf51fk5yr5-hello-c-run" };
const ARM = { "hello-c": "1ziqyyfjibqinip6agbmf2li8xg5iv7h-hello-c", "hello-c-run": "38kfx2cssxiqx3bshqxz0zxgjdf0vvy0-hello-c-run" };

const BUILD_MS = 15 * 60_000;

/** The `name: path` lines `bramble build` ends with, as name → store path. */
function outputsOf(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of stdout.matchAll(/^([a-z-]+): (\/\S+)$/gm)) out[m[1]!] = m[2]!;
  return out;
}

const storeName = (p: string) => p.slice(p.lastIndexOf("/") + 1);

/** ELF header facts: the machine (0x3e x86_64, 0xb7 aarch64) and whether it names an interpreter. */
function elf(file: string): { machine: number; interpreter: boolean } {
  const b = readFileSync(file);
  expect(b.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  let interpreter = false;
  for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3) interpreter = true; // PT_INTERP
  return { machine: b.readUInt16LE(18), interpreter };
}

// The first BRAMBLE_PATH: examples/cross built natively and for aarch64-linux.
const home = freshHome();

/** The toolchains' store names in a BRAMBLE_PATH (their ELF headers hold store paths). */
function toolchainNames(h: string): string[] {
  return readdirSync(join(h, "store"))
    .filter((n) => /-cc-(x86_64|aarch64)-linux$/.test(n))
    .sort();
}

describe("examples/cross on the seed library", () => {
  it(
    "builds natively: an x86_64 static program, run on local, says x86_64",
    () => {
      const r = bramble(["build", "./examples/cross:all"], { home, timeoutMs: BUILD_MS });
      expect(r.stderr + r.stdout).not.toMatch(/FAILED/);
      expect(r.code).toBe(0);
      const out = outputsOf(r.stdout);
      expect(storeName(out["hello-c"]!)).toBe(NATIVE["hello-c"]);
      expect(storeName(out["hello-c-run"]!)).toBe(NATIVE["hello-c-run"]);
      expect(elf(join(out["hello-c"]!, "bin/hello"))).toEqual({ machine: 0x3e, interpreter: false });
      expect(readFileSync(join(out["hello-c-run"]!, "greeting.txt"), "utf8")).toBe("Hello from x86_64-linux\n");
      expect(readFileSync(join(out["hello-c-run"]!, "uname.txt"), "utf8")).toBe("x86_64\n");
      // Reproducible: the toolchain, the program and its run built again in a fresh store.
      const check = bramble(["build", "./examples/cross:all", "--check"], { home, timeoutMs: BUILD_MS });
      expect(check.stdout + check.stderr).toContain("check: 4 derivations built again, every output identical");
      expect(check.code).toBe(0);
    },
    BUILD_MS,
  );

  it(
    "cross-compiles for aarch64-linux and runs it on qemu in an aarch64 busybox: uname -m says aarch64",
    () => {
      const r = bramble(["build", "./examples/cross:all", "--target", "aarch64-linux", "--json"], { home, timeoutMs: BUILD_MS });
      expect(r.code).toBe(0);
      const events = r.stdout
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { type: string; hash?: string; backend?: string });
      const g = JSON.parse(bramble(["graph", "./examples/cross:all", "--target", "aarch64-linux", "--json"], { home }).stdout) as {
        nodes: { name: string; hash: string }[];
      };
      const hashOf = (name: string) => g.nodes.find((n) => n.name === name)!.hash;
      const started = (name: string) => events.filter((e) => e.type === "started" && e.hash === hashOf(name)).map((e) => e.backend);
      expect(started("hello-c")).toEqual(["local"]);
      expect(started("hello-c-run")).toEqual(["qemu"]);
      const built = bramble(["build", "./examples/cross:all", "--target", "aarch64-linux"], { home, timeoutMs: BUILD_MS });
      const out = outputsOf(built.stdout);
      expect(storeName(out["hello-c"]!)).toBe(ARM["hello-c"]);
      expect(storeName(out["hello-c-run"]!)).toBe(ARM["hello-c-run"]);
      expect(elf(join(out["hello-c"]!, "bin/hello"))).toEqual({ machine: 0xb7, interpreter: false });
      expect(readFileSync(join(out["hello-c-run"]!, "greeting.txt"), "utf8")).toBe("Hello from aarch64-linux\n");
      expect(readFileSync(join(out["hello-c-run"]!, "uname.txt"), "utf8")).toBe("aarch64\n");
      // cc-aarch64-linux, aarch64 busybox, the x86_64 busybox the compile runs in, hello-c, its run.
      const check = bramble(["build", "./examples/cross:all", "--target", "aarch64-linux", "--check"], { home, timeoutMs: BUILD_MS });
      expect(check.stdout + check.stderr).toContain("check: 5 derivations built again, every output identical");
      expect(check.code).toBe(0);
    },
    BUILD_MS,
  );
});

describe("dynamically linked programs", () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it(
    "load the C library of the toolchain's store path, for x86_64 and for aarch64 on qemu",
    () => {
      const root = mkdtempSync(join(tmpdir(), "bramble-cc-dynamic-"));
      dirs.push(root);
      writeFileSync(join(root, "bramble.toml"), '[package]\nname = "dynamic"\n');
      writeFileSync(join(root, "m.c"), '#include <stdio.h>\nint main(void) { printf("dynamic %d\\n", (int)sizeof(void *)); return 0; }\n');
      writeFileSync(
        join(root, "default.bramble"),
        `load("seeds", "shell")
load("seeds/cc", "cc")

def compile(system):
    return shell(name = "m", script = "mkdir -p $out/bin && cc -O2 -o $out/bin/m m.c", sources = files(["m.c"]),
                 path = [cc(system).out + "/bin"], platform = "x86_64-linux", system = system)

def run(system):
    return shell(name = "m-run", script = "mkdir -p $out && $prog/bin/m > $out/stdout.txt && uname -m >> $out/stdout.txt",
                 env = {"prog": compile(system).out}, platform = system)

def both():
    return [compile("x86_64-linux"), run("x86_64-linux"), compile("aarch64-linux"), run("aarch64-linux")]
`,
      );
      const r = bramble(["build", ".:both"], { home, cwd: root, timeoutMs: BUILD_MS });
      expect(r.stderr + r.stdout).not.toMatch(/FAILED/);
      expect(r.code).toBe(0);
      // A name both systems' roots share is shown with its system: "m-run (aarch64-linux): ...".
      const runs = [...r.stdout.matchAll(/^m-run(?: \([a-z0-9_]+-[a-z]+\))?: (\/\S+)$/gm)].map((m) => readFileSync(join(m[1]!, "stdout.txt"), "utf8"));
      expect(runs).toEqual(["dynamic 8\nx86_64\n", "dynamic 8\naarch64\n"]);
      // Dynamic, with the toolchain's loader (a store path) as their interpreter.
      const programs = [...r.stdout.matchAll(/^m(?: \([a-z0-9_]+-[a-z]+\))?: (\/\S+)$/gm)].map((m) => join(m[1]!, "bin/m"));
      expect(programs.map((p) => elf(p))).toEqual([
        { machine: 0x3e, interpreter: true },
        { machine: 0xb7, interpreter: true },
      ]);
      expect(readFileSync(programs[0]!, "latin1")).toMatch(/\/[0-9a-z]{32}-cc-x86_64-linux\/lib\/x86_64-linux-gnu\/ld-linux-x86-64\.so\.2\0/);
      expect(readFileSync(programs[1]!, "latin1")).toMatch(/\/[0-9a-z]{32}-cc-aarch64-linux\/usr\/aarch64-linux-gnu\/lib\/ld-linux-aarch64\.so\.1\0/);
    },
    BUILD_MS,
  );
});

describe("same bytes everywhere", () => {
  const fakes = mkdtempSync(join(tmpdir(), "bramble-fake-gcc-"));
  afterAll(() => rmSync(fakes, { recursive: true, force: true }));

  it(
    "a second BRAMBLE_PATH, in a mount namespace whose /usr/bin/gcc and aarch64-linux-gnu-gcc are someone else's, gives the same output hashes",
    () => {
      ensureCli();
      const fake = join(fakes, "gcc");
      writeFileSync(fake, "#!/bin/sh\necho 'a different gcc 99'\nexit 1\n");
      chmodSync(fake, 0o755);
      const second = freshHome();
      // Both host compilers replaced (mount --bind follows /usr/bin/gcc's links to the real file),
      // then both targets built; the script proves the fake is what the host shows.
      const script = `
set -e
mount --bind ${fake} /usr/bin/gcc
mount --bind ${fake} /usr/bin/aarch64-linux-gnu-gcc
gcc --version | grep -q 'a different gcc 99'
aarch64-linux-gnu-gcc --version | grep -q 'a different gcc 99'
echo "host gcc: $(gcc --version)"
"${process.execPath}" "${cli}" build ./examples/cross:all
"${process.execPath}" "${cli}" build ./examples/cross:all --target aarch64-linux
`;
      const r = spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-c", script], {
        cwd: repo,
        env: { ...process.env, BRAMBLE_PATH: second, NO_COLOR: "1" },
        encoding: "utf8",
        timeout: 2 * BUILD_MS,
      });
      expect(r.stderr).not.toMatch(/FAILED/);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain("host gcc: a different gcc 99");
      const names = [...r.stdout.matchAll(/^(hello-c(?:-run)?): (\/\S+)$/gm)].map((m) => [m[1], storeName(m[2]!)]);
      expect(names).toEqual([
        ["hello-c", NATIVE["hello-c"]],
        ["hello-c-run", NATIVE["hello-c-run"]],
        ["hello-c", ARM["hello-c"]],
        ["hello-c-run", ARM["hello-c-run"]],
      ]);
      // The patched toolchains too: their interpreter and RUNPATH name the store they were built
      // in, relocated by byte replacement, so their content hashes agree with the first store's
      // (built above, or here when this test runs alone).
      for (const target of [[], ["--target", "aarch64-linux"]]) {
        expect(bramble(["build", "./examples/cross:all", ...target], { home, timeoutMs: BUILD_MS }).code).toBe(0);
      }
      expect(toolchainNames(second)).toHaveLength(2);
      expect(toolchainNames(second)).toEqual(toolchainNames(home));
    },
    3 * BUILD_MS,
  );
});

describe("the toolchain's pins", () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  /** The derivation hashes by name of both toolchains, with the seed library at `seeds` (default: lib/). */
  function toolchains(seeds?: string): Map<string, string> {
    const root = mkdtempSync(join(tmpdir(), "bramble-cc-pins-"));
    dirs.push(root);
    const deps = seeds ? `[dependencies]\nseeds = { path = ${JSON.stringify(seeds)} }\n` : "";
    writeFileSync(join(root, "bramble.toml"), `[package]\nname = "pins"\n${deps}`);
    writeFileSync(join(root, "default.bramble"), 'load("seeds/cc", "cc")\ndef both():\n    return [cc("x86_64-linux"), cc("aarch64-linux")]\n');
    const ev = evaluate(createContext(readProject(root), { host: "x86_64-linux" }), [".:both"], root);
    return new Map([...ev.drvs].map(([hash, d]) => [d.name, hash]));
  }

  it("a system with no toolchain is an evaluation error naming it, the systems there are, and the caller's line", () => {
    const root = mkdtempSync(join(tmpdir(), "bramble-cc-unknown-"));
    dirs.push(root);
    writeFileSync(join(root, "bramble.toml"), '[package]\nname = "unknown"\n');
    writeFileSync(join(root, "default.bramble"), 'load("seeds/cc", "cc")\n\ndef windows():\n    return cc("x86_64-windows")\n');
    let err: StarlarkError | undefined;
    try {
      evaluate(createContext(readProject(root), { host: "x86_64-linux" }), [".:windows"], root);
    } catch (e) {
      if (e instanceof StarlarkError) err = e;
    }
    expect(err?.msg).toContain("seeds/cc: no C toolchain for x86_64-windows (there are: aarch64-linux, x86_64-linux)");
    expect(err!.callStack.map((f) => `${f.pos.file.slice(f.pos.file.lastIndexOf("/") + 1)}:${f.pos.line}`)).toContain("default.bramble:4");
  });

  it("changing the pin of gcc-12 changes the x86_64 toolchain's hash (so it rebuilds) and not the aarch64 one's", () => {
    const lib = mkdtempSync(join(tmpdir(), "bramble-seeds-"));
    dirs.push(lib);
    cpSync(join(repo, "lib"), lib, { recursive: true });
    const file = join(lib, "bramble.lock");
    const text = readFileSync(file, "utf8");
    const pin = /"mirror:\/\/debian\/pool\/main\/g\/gcc-12\/gcc-12_[^"]+" = "sha256:([0-9a-z]{52})"/.exec(text)!;
    const other = pin[1]!.replace(/^./, (c) => (c === "0" ? "1" : "0"));
    writeFileSync(file, text.replace(pin[1]!, other));
    const before = toolchains();
    const after = toolchains(lib);
    expect(after.get("gcc-12_12.2.0-14+deb12u1_amd64.deb")).not.toBe(before.get("gcc-12_12.2.0-14+deb12u1_amd64.deb"));
    expect(after.get("cc-x86_64-linux")).not.toBe(before.get("cc-x86_64-linux"));
    expect(after.get("cc-aarch64-linux")).toBe(before.get("cc-aarch64-linux"));
    expect(after.get("libc6-x86_64-linux")).toBe(before.get("libc6-x86_64-linux"));
  });
});
