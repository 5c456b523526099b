// The walking skeleton from the command line: examples/hello builds in the sandbox (its shell
// from the seed library, fetched from the tests' loopback Debian mirror),
// is recorded in SQLite, and a second run builds nothing.
import Database from "better-sqlite3";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { bramble, freshHome, repo } from "../helpers/cli.js";

describe("bramble build ./examples/hello:default", () => {
  const home = freshHome();
  let first: ReturnType<typeof bramble>;
  beforeAll(() => {
    first = bramble(["build", "./examples/hello:default"], { home });
  });

  it("builds both derivations and prints the output path", () => {
    expect(first.stderr).toMatch(/built greeting/);
    expect(first.stderr).toMatch(/built hello/);
    expect(first.code).toBe(0);
    const m = /^hello: (\S+)$/m.exec(first.stdout);
    expect(m).not.toBeNull();
    const out = m![1]!;
    expect(out.startsWith(home)).toBe(true);
    expect(existsSync(join(out, "bin/hello"))).toBe(true);
    const script = readFileSync(join(out, "bin/hello"), "utf8");
    // Its shell is busybox from the seed library, a store path: nothing of the host's /bin.
    expect(script).toMatch(/^#!\/.+-busybox\/bin\/sh\ncat \/.+\/greeting\.txt\n$/);
    expect(script.split("\n")[0]!.slice(2).startsWith(home)).toBe(true);
    const greeting = /cat (\S+)/.exec(script)![1]!;
    expect(readFileSync(greeting, "utf8")).toBe("Hello from Bramble\n");
  });

  it("records evaluation, derivations, outputs and builds in SQLite under $BRAMBLE_PATH/var, in WAL mode", () => {
    const dbFile = readdirSync(join(home, "var")).find((f) => f.endsWith(".db"));
    expect(dbFile).toBeDefined();
    const db = new Database(join(home, "var", dbFile!), { readonly: true });
    try {
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      const tables = (db.prepare("select name from sqlite_master where type = 'table'").all() as { name: string }[]).map((t) => t.name);
      for (const t of ["evaluations", "derivations", "paths", "builds"]) expect(tables).toContain(t);
      const count = (t: string) => (db.prepare(`select count(*) as n from ${t}`).get() as { n: number }).n;
      expect(count("evaluations")).toBeGreaterThanOrEqual(1);
      // greeting and hello, and the seed library's busybox: its .deb (fixed-output) and its applets
      expect(count("derivations")).toBe(4);
      // store paths: the four outputs, with their hash, size and references
      expect(count("paths")).toBe(4);
      expect(count("builds")).toBe(4);
      expect(db.pragma("user_version", { simple: true })).toBeGreaterThanOrEqual(1);
    } finally {
      db.close();
    }
  });

  it("builds nothing the second time and says both are cached", () => {
    const second = bramble(["build", "./examples/hello:default"], { home });
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(/cached greeting/);
    expect(second.stderr).toMatch(/cached hello/);
    expect(second.stderr).not.toMatch(/^built /m);
    expect(second.stdout).toBe(first.stdout);
  });

  it("takes a path typed without ./ when it exists", () => {
    const r = bramble(["build", "examples/hello:default"], { home });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(first.stdout);
  });

  it("works from inside the project with a relative module argument", () => {
    const r = bramble(["build", ".:default"], { home, cwd: join(repo, "examples/hello") });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(first.stdout);
  });
});

describe("a builder that exits non-zero", () => {
  const home = freshHome();
  it("fails the build with its exit code and log tail, and stores nothing for it", () => {
    const r = bramble(["build", "./test/fixtures/failing:broken"], { home });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/FAILED broken \(exit code 3\)/);
    expect(r.stderr).toMatch(/second line/);
    expect(r.stderr).toMatch(/about to fail/);
    const store = readdirSync(join(home, "store")).filter((f) => !f.endsWith(".drv"));
    // Only the dependency that built is in the store.
    expect(store.filter((f) => f.includes("broken"))).toEqual([]);
    expect(store.filter((f) => f.includes("fine")).length).toBe(1);
  });

  it("exits 2 on usage errors", () => {
    expect(bramble(["build"], { home }).code).toBe(2);
    expect(bramble(["build", "--jobs", "zero", "./x:y"], { home }).code).toBe(2);
    expect(bramble(["frobnicate"], { home }).code).toBe(2);
  });
});
