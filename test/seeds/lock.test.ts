// A loaded package pins its fetches in its own bramble.lock (issue 12 point 2: the seed
// library's .deb hashes are in lib/bramble.lock, not in its .bramble source): the pin comes
// from the lock of the package whose module makes the fetch, a changed pin there changes the
// derivation hash, a missing one is an error naming the package, the URL and the lock file,
// and the evaluated project never records a library's fetches in its own lock.
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createContext, evaluate, type Evaluation } from "../../core/project/evaluate.js";
import { readProject } from "../../core/project/project.js";
import { StarlarkError } from "../../core/starlark/index.js";
import { repo } from "../helpers/cli.js";

const BUSYBOX_AMD64 = "mirror://debian/pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_amd64.deb";
const BUSYBOX_AMD64_PIN = "sha256:060pmyzly55g76anv0pnl5c8bgp605amlwcwwkkgyvmqhiiqb6bn";
const OTHER_PIN = "sha256:0dyfyn3ijnybkkpxd783xyqdzlrzi4w8k996yk4qdfkxa1vb624v";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tmp(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** A project that loads busybox_deb() from the seed library (lib/, or a copy at `seeds`) and evaluates it. */
function busyboxDeb(seeds?: string, rootLock?: string): Evaluation {
  const root = tmp("bramble-lock-");
  const deps = seeds ? `[dependencies]\nseeds = { path = ${JSON.stringify(seeds)} }\n` : "";
  writeFileSync(join(root, "bramble.toml"), `[package]\nname = "locks"\n${deps}`);
  if (rootLock) writeFileSync(join(root, "bramble.lock"), rootLock);
  writeFileSync(join(root, "default.bramble"), 'load("seeds", "busybox_deb")\n\ndef bb():\n    return busybox_deb("x86_64-linux")\n');
  return evaluate(createContext(readProject(root), { host: "x86_64-linux" }), [".:bb"], root);
}

function copyOfLib(): string {
  const lib = tmp("bramble-seeds-");
  cpSync(join(repo, "lib"), lib, { recursive: true });
  return lib;
}

describe("a loaded package's own bramble.lock", () => {
  it("the seed library's sources name no hash: every pin is in lib/bramble.lock", () => {
    for (const f of readdirSync(join(repo, "lib")).filter((f) => f.endsWith(".bramble"))) {
      expect(readFileSync(join(repo, "lib", f), "utf8"), f).not.toMatch(/sha256:[0-9a-z]{52}/);
    }
    const lock = readFileSync(join(repo, "lib/bramble.lock"), "utf8");
    expect(lock).toContain(`"${BUSYBOX_AMD64}" = "${BUSYBOX_AMD64_PIN}"`);
    // debs() pins its URLs together, joined by a space, as the fetch key is.
    expect(lock).toContain(
      '"mirror://debian/pool/main/g/golang-1.19/golang-1.19-go_1.19.8-2_amd64.deb mirror://debian/pool/main/g/golang-1.19/golang-1.19-src_1.19.8-2_all.deb" = "sha256:1z3y9gfj03iq66g8nqrx532a97rhfg56hbyv0xa7j98lf0kdsz9c"',
    );
  });

  it("a library's fetch takes its pin from the library's lock, not the project's, and is not recorded in the project's", () => {
    // The project's own lock names the same URL with another hash: it does not apply to the library's fetch.
    const ev = busyboxDeb(undefined, `[urlhashes]\n"${BUSYBOX_AMD64}" = "${OTHER_PIN}"\n`);
    const [hash, drv] = [...ev.drvs].find(([, d]) => d.name === "busybox-static-x86_64-linux")!;
    expect(drv.outputHash).toBe(BUSYBOX_AMD64_PIN);
    // The derivation hash it had when the pin was written in lib/default.bramble.
    expect(hash).toBe("j2lgdgzhq1dgx0dbwwk8vbvyl5ihi53n");
    expect([...ev.fetchKeys.values()]).not.toContain(BUSYBOX_AMD64);
  });

  it("a changed pin in the library's bramble.lock changes the derivation hash", () => {
    const lib = copyOfLib();
    const file = join(lib, "bramble.lock");
    const text = readFileSync(file, "utf8");
    const changed = text.replace(`"${BUSYBOX_AMD64}" = "${BUSYBOX_AMD64_PIN}"`, `"${BUSYBOX_AMD64}" = "${OTHER_PIN}"`);
    expect(changed).not.toBe(text);
    writeFileSync(file, changed);
    const ev = busyboxDeb(lib);
    const [hash, drv] = [...ev.drvs].find(([, d]) => d.name === "busybox-static-x86_64-linux")!;
    expect(drv.outputHash).toBe(OTHER_PIN);
    expect(hash).not.toBe("j2lgdgzhq1dgx0dbwwk8vbvyl5ihi53n");
  });

  it("a library's missing pin is an error naming the package, the URL and the lock file", () => {
    const lib = copyOfLib();
    const file = join(lib, "bramble.lock");
    const text = readFileSync(file, "utf8");
    const removed = text.replace(`"${BUSYBOX_AMD64}" = "${BUSYBOX_AMD64_PIN}"\n`, "");
    expect(removed).not.toBe(text);
    writeFileSync(file, removed);
    let err: unknown;
    try {
      busyboxDeb(lib);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StarlarkError);
    expect((err as StarlarkError).msg).toContain(`fetch_url: package "seeds" pins no hash for ${BUSYBOX_AMD64} in ${lib}/bramble.lock`);
    // The library's lock is left as it was: evaluating another project never writes it.
    expect(readFileSync(file, "utf8")).toBe(removed);
  });

  it("a [dependencies] package with a path pins its own fetches in its bramble.lock; the project's own fetch is recorded in the project's", () => {
    const dep = tmp("bramble-dep-");
    writeFileSync(join(dep, "bramble.toml"), '[package]\nname = "dep"\n');
    writeFileSync(join(dep, "default.bramble"), 'def src():\n    return fetch_url("https://example.org/dep-1.0.tar.gz")\n');
    writeFileSync(join(dep, "bramble.lock"), `[urlhashes]\n"https://example.org/dep-1.0.tar.gz" = "${OTHER_PIN}"\n`);
    const root = tmp("bramble-lock-");
    writeFileSync(join(root, "bramble.toml"), `[package]\nname = "app"\n\n[dependencies]\ndep = { path = ${JSON.stringify(dep)} }\n`);
    writeFileSync(join(root, "default.bramble"), 'load("dep", "src")\n\ndef both():\n    return [src(), fetch_url("https://example.org/app-1.0.tar.gz")]\n');
    const ev = evaluate(createContext(readProject(root), { host: "x86_64-linux" }), [".:both"], root);
    const byName = new Map([...ev.drvs].map(([h, d]) => [d.name, { h, d }]));
    expect(byName.get("dep-1.0.tar.gz")!.d.outputHash).toBe(OTHER_PIN);
    expect(byName.get("app-1.0.tar.gz")!.d.outputHash).toBeUndefined();
    expect([...ev.fetchKeys.values()]).toEqual(["https://example.org/app-1.0.tar.gz"]);
  });
});
