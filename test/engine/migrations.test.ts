// Numbered migrations: a database written by an older bramble opens, keeps its rows, and gains
// the newer tables (3: store_paths, what other backends' stores hold).
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Db } from "../../core/db/db.js";
import { MIGRATIONS } from "../../core/db/migrations.js";

const dir = mkdtempSync(join(tmpdir(), "bramble-mig-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("database migrations", () => {
  it("a version 2 database migrates to the latest and keeps its paths and outputs", () => {
    const file = join(dir, "old.db");
    const old = new Database(file);
    old.exec(MIGRATIONS[0]!);
    old.exec(MIGRATIONS[1]!);
    old.pragma("user_version = 2");
    old
      .prepare(`INSERT INTO paths (name, hash, size, refs, deriver, registered_at) VALUES (?, ?, ?, ?, ?, ?)`)
      .run("a".repeat(32) + "-x", "sha256:h", 1, "[]", "d", 1);
    old.prepare(`INSERT INTO drv_outputs (drv_hash, output, path) VALUES (?, ?, ?)`).run("d", "out", "a".repeat(32) + "-x");
    old.close();

    const db = new Db(file, "/store");
    expect(db.sql.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
    expect(db.drvOutputs("d")).toEqual({ out: "a".repeat(32) + "-x" });
    expect(db.storesOf("a".repeat(32) + "-x")).toEqual(["local"]);
    // Another backend's store holds it too; collecting the local copy keeps what built it.
    db.addStorePaths("box", [{ ...db.pathInfo("a".repeat(32) + "-x")! }]);
    expect(db.storesOf("a".repeat(32) + "-x")).toEqual(["local", "box"]);
    db.deletePaths(["a".repeat(32) + "-x"]);
    expect(db.storesOf("a".repeat(32) + "-x")).toEqual(["box"]);
    expect(db.drvOutputs("d")).toBeUndefined();
    expect(db.drvOutputsRecorded(["d"]).get("d")).toEqual({ out: "a".repeat(32) + "-x" });
    db.deleteStorePaths("box", ["a".repeat(32) + "-x"]);
    expect(db.storesOf("a".repeat(32) + "-x")).toEqual([]);
    db.close();
  });
});
