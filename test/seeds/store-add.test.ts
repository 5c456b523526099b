// `bramble store add PATH`: a local tree into the store, content-addressed (the same bytes give
// the same store name in any BRAMBLE_PATH), with the line that pins it; a project's pinned
// fetch_url of that path is then already built.
import { mkdirSync, mkdtempSync, readlinkSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bramble, freshHome } from "../helpers/cli.js";

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function tree(): string {
  const d = mkdtempSync(join(tmpdir(), "bramble-add-"));
  made.push(d);
  const t = join(d, "toolchain");
  mkdirSync(join(t, "bin"), { recursive: true });
  writeFileSync(join(t, "bin", "tool"), "#!/bin/sh\necho tool\n", { mode: 0o755 });
  writeFileSync(join(t, "README"), "a tree to pin\n");
  symlinkSync("bin/tool", join(t, "link"));
  return t;
}

describe("bramble store add", () => {
  const src = tree();

  it("adds a directory content-addressed and prints its hash and the pin", () => {
    const home = freshHome();
    const r = bramble(["store", "add", src], { home });
    expect(r.code, r.stderr).toBe(0);
    const [first, pin, lock] = r.stdout.trimEnd().split("\n");
    const m = /^(sha256:[0-9a-z]{52}) {2}(\S+)$/.exec(first!)!;
    expect(m).not.toBeNull();
    const [, hash, path] = m;
    // The bytes decide the hash: written out, the same on every machine.
    expect(hash).toBe("sha256:1ba0fy0gfnm33h3r1zxax4c46ckqig3r7sglf1rsxgiqfjdyn796");
    expect(basename(path!)).toBe("8vplz89xwfhzc5pxgqgw3c1jq56kkwr9-toolchain");
    expect(readFileSync(join(path!, "README"), "utf8")).toBe("a tree to pin\n");
    expect(readlinkSync(join(path!, "link"))).toBe("bin/tool");
    expect(pin).toBe(`pin it in a .bramble file:  fetch_url("file://${src}", hash = "${hash}")`);
    expect(lock).toBe(`or in bramble.lock [urlhashes]:  "file://${src}" = "${hash}"`);

    // Another store: the same store name.
    const again = bramble(["store", "add", src], { home: freshHome() });
    expect(again.stdout.split("\n")[0]!.split("/").pop()).toBe(basename(path!));

    // A project that pins it finds it built.
    const proj = mkdtempSync(join(tmpdir(), "bramble-pin-"));
    made.push(proj);
    writeFileSync(join(proj, "bramble.toml"), '[package]\nname = "pin"\n');
    writeFileSync(join(proj, "default.bramble"), `def tools():\n    return ${pin!.replace("pin it in a .bramble file:  ", "")}\n`);
    const b = bramble(["build", `${proj}:tools`], { home });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toMatch(/^cached toolchain$/m);
    expect(b.stdout.trim()).toBe(`toolchain: ${path}`);
  });

  it("says clearly when the path does not exist", () => {
    const r = bramble(["store", "add", "/nonexistent/thing"], { home: freshHome() });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("/nonexistent/thing does not exist");
  });
});
