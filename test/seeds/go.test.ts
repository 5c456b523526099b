// examples/go: one Go program cross-compiled for five systems with the seed library's Go
// (a pinned Debian .deb, run through the store's own libc6 loader), the aarch64-linux binary run
// on aarch64-linux under qemu with an arm64 busybox; the same bytes from two BRAMBLE_PATHs, one
// of them built where the host's gcc and go are fakes that fail (a mount namespace of its own).
import { spawnSync } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { bramble, cli, ensureCli, freshHome, repo } from "../helpers/cli.js";

// Store names are content hashes (normalized for the store's location): written out, the
// outputs every machine must produce from these pins. Order: x86_64-linux, aarch64-linux,
// x86_64-darwin, aarch64-darwin, x86_64-windows.
const GO_OUTPUTS = [
  "ldfp4a218wpinzypa4dc0wdx3vz8dw7z-hello-go",
  "i8dzqj9vfyz2cr0zsyxb7lwmr72mb11j-hello-go",
  "ya2xsh3fh8p3nzyxcw18sg292sisaah8-hello-go",
  "blqnyi9d930mmqlvkk429vlhns4ifs13-hello-go",
  "7dnxxljb6lkbx8786yi205dgc22l4k4i-hello-go",
];
const RUN_OUTPUT = "jb2msbg7gbj7j2jnswh8jilh5kknqjmx-hello-go-run";
const HELLO_OUTPUT = "df13ifsax1c7ckxjpzxiaspsir0mpqrv-hello";

const ARGS = ["./examples/go:all_systems", "./examples/go:run_aarch64", "./examples/hello:default"];
const LONG = 900_000;

/** "name: path" lines of a build's stdout, as store names in order. */
function outputs(stdout: string, name: string): string[] {
  // A name several roots share is shown with its system: "hello-go (aarch64-darwin): ...".
  return [...stdout.matchAll(new RegExp(`^${name}(?: \\([a-z0-9_]+-[a-z]+\\))?: (\\S+)$`, "gm"))].map((m) => basename(m[1]!));
}

describe("examples/go", () => {
  const home = freshHome();
  let built: ReturnType<typeof bramble>;
  beforeAll(() => {
    built = bramble(["build", ...ARGS], { home, timeoutMs: LONG });
  }, LONG);

  it("cross-compiles one program for five systems in one tree (system → GOOS/GOARCH)", () => {
    expect(built.code, built.stderr).toBe(0);
    const names = outputs(built.stdout, "hello-go");
    expect(names).toEqual(GO_OUTPUTS);
    const file = (i: number, exe = "hello") => readFileSync(join(home, "store", names[i]!, "bin", exe));
    // ELF e_machine: 62 x86-64, 183 AArch64; Mach-O 64 cputype: 0x01000007 x86_64, 0x0100000c arm64; PE "MZ".
    expect(file(0).subarray(0, 4).toString("latin1")).toBe("\x7fELF");
    expect(file(0).readUInt16LE(18)).toBe(62);
    expect(file(1).readUInt16LE(18)).toBe(183);
    expect(file(2).readUInt32LE(0)).toBe(0xfeedfacf);
    expect(file(2).readUInt32LE(4)).toBe(0x01000007);
    expect(file(3).readUInt32LE(4)).toBe(0x0100000c);
    expect(file(4, "hello.exe").subarray(0, 2).toString("latin1")).toBe("MZ");
  });

  it("runs the aarch64-linux binary on aarch64-linux (qemu), where uname -m says aarch64", () => {
    expect(outputs(built.stdout, "hello-go-run")).toEqual([RUN_OUTPUT]);
    expect(built.stderr).toMatch(/building hello-go-run on qemu/);
    const out = join(home, "store", RUN_OUTPUT);
    expect(readFileSync(join(out, "uname-m"), "utf8")).toBe("aarch64\n");
    expect(readFileSync(join(out, "greeting.txt"), "utf8")).toBe("Hello from linux/arm64\n");
  });

  it(
    "gives the same bytes under another BRAMBLE_PATH with fake host gcc and go in the way",
    () => {
      ensureCli();
      const other = freshHome();
      const fake = join(other, "fake-tool");
      writeFileSync(fake, '#!/bin/sh\necho "fake $0: a host toolchain was used" >&2\nexit 99\n');
      chmodSync(fake, 0o755);
      const goHost = spawnSync("sh", ["-c", "command -v go"], { encoding: "utf8" }).stdout.trim();
      const binds = ["/usr/bin/gcc", ...(goHost ? [goHost] : [])].map((p) => `mount --bind "$FAKE" ${p}`).join(" && ");
      const script = `mount --make-rprivate / && ${binds} && gcc --version; exec "$NODE" "$CLI" build ${ARGS.join(" ")}`;
      const r = spawnSync("unshare", ["-m", "sh", "-c", script], {
        cwd: repo,
        env: { ...process.env, BRAMBLE_PATH: other, NO_COLOR: "1", FAKE: fake, NODE: process.execPath, CLI: cli },
        encoding: "utf8",
        timeout: LONG,
      });
      expect(r.stderr).toContain("fake /usr/bin/gcc: a host toolchain was used");
      expect(r.status, r.stderr).toBe(0);
      expect(outputs(r.stdout, "hello-go")).toEqual(GO_OUTPUTS);
      expect(outputs(r.stdout, "hello-go-run")).toEqual([RUN_OUTPUT]);
      expect(outputs(r.stdout, "hello")).toEqual([HELLO_OUTPUT]);
      expect(outputs(built.stdout, "hello")).toEqual([HELLO_OUTPUT]);
    },
    LONG,
  );

  it(
    "passes --check: the five compiles built again are identical",
    () => {
      const r = bramble(["build", "./examples/go:all_systems", "--check"], { home, timeoutMs: LONG });
      expect(r.stderr).toContain("check: 7 derivations built again, every output identical");
      expect(r.code).toBe(0);
    },
    LONG,
  );
});
