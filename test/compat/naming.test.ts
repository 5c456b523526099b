// One way to name a derivation (a name, a full hash, a unique prefix) in every verb, systems
// shown when names repeat, Nix habits (-o, --rebuild, -L, store closure), and store copy
// carrying realisations (issue 15).
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { outLinkRoots } from "../../core/store/out-links.js";
import { bramble, freshHome } from "../helpers/cli.js";

function project(): string {
  const root = mkdtempSync(join(tmpdir(), "bramble-compat-names-"));
  writeFileSync(join(root, "bramble.toml"), 'sandbox_paths = ["/bin", "/usr", "/lib", "/lib64"]\n[package]\nname = "names"\n');
  writeFileSync(
    join(root, "default.bramble"),
    `
def _gwc(system):
    return derivation(name = "gwc", builder = "/bin/sh", system = system, platform = "x86_64-linux", args = ["-c", "echo " + system + " > $out; echo log-of-" + system])

def solo():
    return derivation(name = "solo", builder = "/bin/sh", args = ["-c", "echo solo > $out; echo log-of-solo"])

def all():
    return [_gwc("x86_64-linux"), _gwc("aarch64-linux"), solo()]
`,
  );
  return root;
}

describe("naming derivations", () => {
  const home = freshHome();
  const root = project();
  let build: ReturnType<typeof bramble>;
  let hashes: Record<string, string>;
  beforeAll(() => {
    build = bramble(["build", "-o", "result", ".:all"], { home, cwd: root });
    const builds = JSON.parse(bramble(["history", "--json"], { home }).stdout) as { drvHash: string; name: string }[];
    hashes = Object.fromEntries(builds.map((b) => [b.name === "gwc" ? `gwc-${b.drvHash}` : b.name, b.drvHash]));
  });

  it("shows the system in progress lines and results when names repeat, not otherwise", () => {
    expect(build.code).toBe(0);
    expect(build.stderr).toMatch(/^built gwc \(x86_64-linux\)$/m);
    expect(build.stderr).toMatch(/^built gwc \(aarch64-linux\)$/m);
    expect(build.stderr).toMatch(/^built solo$/m);
    expect(build.stdout).toMatch(/^gwc \(aarch64-linux\): \S+-gwc$/m);
    expect(build.stdout).toMatch(/^solo: \S+-solo$/m);
  });

  it("history shows the system when names repeat, and takes a name or a prefix", () => {
    const h = bramble(["history"], { home });
    expect(h.stdout).toMatch(/ gwc \(x86_64-linux\) {2}\[local\]$/m);
    expect(h.stdout).toMatch(/ solo {2}\[local\]$/m);
    const byPrefix = bramble(["history", hashes.solo!.slice(0, 6)], { home });
    expect(byPrefix.stdout.trim().split("\n")).toHaveLength(1);
    expect(byPrefix.stdout).toMatch(/ solo {2}\[local\]$/m);
    expect(bramble(["history", "solo"], { home }).stdout).toBe(byPrefix.stdout);
  });

  it("log, store path and shell take a name, a hash or a unique prefix", () => {
    expect(bramble(["log", "solo"], { home }).stdout).toBe("log-of-solo\n");
    expect(bramble(["log", hashes.solo!.slice(0, 5)], { home }).stdout).toBe("log-of-solo\n");
    expect(bramble(["log", hashes.solo!], { home }).stdout).toBe("log-of-solo\n");
    const path = bramble(["store", "path", "solo"], { home }).stdout;
    expect(path).toMatch(/^\S+-solo\n$/);
    expect(bramble(["store", "path", hashes.solo!.slice(0, 5)], { home }).stdout).toBe(path);
    const shell = bramble(["shell", hashes.solo!.slice(0, 6)], { home, input: "exit 7\n" });
    expect(shell.stderr).toMatch(new RegExp(`bramble shell: the sandbox of ${hashes.solo}`));
    expect(shell.code).toBe(7);
  });

  it("an ambiguous name lists the candidates with their systems, in every verb", () => {
    const gwcs = Object.entries(hashes).filter(([k]) => k.startsWith("gwc-"));
    expect(gwcs).toHaveLength(2);
    for (const args of [
      ["log", "gwc"],
      ["history", "gwc"],
      ["store", "path", "gwc"],
      ["shell", "gwc"],
      ["why-depends", "gwc", "solo"],
    ]) {
      const r = bramble(args, { home, cwd: root });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/"gwc" names derivations for 2 systems; give a hash \(or a unique prefix\):/);
      expect(r.stderr).toMatch(/^ {2}[0-9a-z]{32} {2}gwc {2}x86_64-linux$/m);
      expect(r.stderr).toMatch(/^ {2}[0-9a-z]{32} {2}gwc {2}aarch64-linux$/m);
    }
    const rebuild = bramble(["build", "--rebuild", "gwc", ".:all"], { home, cwd: root });
    expect(rebuild.code).toBe(1);
    expect(rebuild.stderr).toMatch(/--rebuild: "gwc" names 2 derivations here; give a hash/);
  });

  it("--rebuild NAME builds that derivation again in a fresh store and compares", () => {
    const r = bramble(["build", "--rebuild", "solo", ".:all"], { home, cwd: root });
    expect(r.stderr).toMatch(/check: 1 derivations built again, every output identical/);
    expect(r.code).toBe(0);
  });

  it("-o makes result links, each registered as an indirect gc root that lasts while the link does", () => {
    expect(readlinkSync(join(root, "result"))).toMatch(/-gwc$/);
    expect(readlinkSync(join(root, "result-3"))).toMatch(/-solo$/);
    const registered = readdirSync(join(home, "var/gcroots/auto")).map((e) => readlinkSync(join(home, "var/gcroots/auto", e)));
    expect(registered.sort()).toEqual([join(root, "result"), join(root, "result-2"), join(root, "result-3")]);
    const storeDir = dirname(readlinkSync(join(root, "result")));
    expect(outLinkRoots(join(home, "var"), storeDir).sort()).toEqual(
      ["result", "result-2", "result-3"].map((l) => basename(readlinkSync(join(root, l)))).sort(),
    );
    rmSync(join(root, "result-2"));
    expect(outLinkRoots(join(home, "var"), storeDir)).toHaveLength(2);
    expect(readdirSync(join(home, "var/gcroots/auto"))).toHaveLength(2);
  });

  it("store closure lists a closure, with --size its sizes and total", () => {
    const r = bramble(["store", "closure", "--size", "solo"], { home });
    expect(r.stdout).toMatch(/^\S+-solo\t5 B\ntotal\t5 B \(1 paths\)\n$/);
  });

  it("store copy to another BRAMBLE_PATH carries the realisations: the target uses the copy", () => {
    const other = freshHome();
    const c = bramble(["store", "copy", "--from", "local", "--to", `path:${other}`, "solo"], { home });
    expect(c.stdout).toMatch(/1 paths copied, 1 derivation outputs recorded in the target/);
    const r = bramble(["build", "./default.bramble:solo"], { home: other, cwd: root });
    expect(r.stderr).toMatch(/^cached solo$/m);
    expect(r.stderr).toMatch(/0 built, 1 cached/);
    expect(existsSync(other)).toBe(true);
  });
});
