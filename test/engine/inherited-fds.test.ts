// A file descriptor bramble's own parent left open without close-on-exec (a shell's `exec
// 7>>file`, a CI harness's pipe) must not reach a build: Node passes such descriptors on to
// what it spawns, and the sandbox's helper used to pass them on to bwrap and the builder, who
// could write the host's file through them (found in review). The helper now closes on exec
// every descriptor above 2 but those the sandbox is given on purpose (--keep-fds N), both when
// Node starts it and in the launcher (store-view-helper --serve).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { repo } from "../helpers/cli.js";

const helper = join(repo, "dist/store-view-helper");
const dir = mkdtempSync(join(tmpdir(), "bramble-fds-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The descriptors a command sees, listed by itself, run by the helper from a shell that opened 7 and 8. */
function fdsThroughHelper(helperArgs: string[]): string[] {
  const r = spawnSync(
    "/bin/sh",
    ["-c", `exec 7>>"$0" 8>>"$0"; exec "$@"`, join(dir, "leak.txt"), helper, ...helperArgs, "--", "/bin/sh", "-c", "ls /proc/$$/fd"],
    {
      encoding: "utf8",
    },
  );
  expect(r.stderr).toBe("");
  return r.stdout
    .split("\n")
    .filter(Boolean)
    .sort((a, b) => Number(a) - Number(b));
}

describe("descriptors bramble inherited", () => {
  it("reach nothing the helper starts, but the ones it keeps on purpose", () => {
    // (the shell's own descriptors: ls lists /proc/<the shell>/fd)
    expect(fdsThroughHelper(["--merge-stderr"])).toEqual(["0", "1", "2"]);
    // --keep-fds 1: descriptor 3 stays, 7 and 8 do not
    const r = spawnSync(
      "/bin/sh",
      ["-c", `exec 7>>"$0" 8>>"$0" 3>>"$0"; exec "$@"`, join(dir, "leak.txt"), helper, "--keep-fds", "1", "--", "/bin/sh", "-c", "ls /proc/$$/fd"],
      { encoding: "utf8" },
    );
    expect(
      r.stdout
        .split("\n")
        .filter(Boolean)
        .sort((a, b) => Number(a) - Number(b)),
    ).toEqual(["0", "1", "2", "3"]);
  });

  it("reach no child of the launcher, which writes nothing into the host's file through them", async () => {
    const file = join(dir, "launcher.txt");
    const child = spawn("/bin/sh", ["-c", `exec 7>>"$0"; exec "$1" --serve`, file, helper], { stdio: ["pipe", "pipe", "inherit"] });
    const frames: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => frames.push(d));
    const args = ["--merge-stderr", "--", "/bin/sh", "-c", "{ echo through 7 >&7; } 2>/dev/null; ls /proc/$$/fd"];
    const body = Buffer.concat([Buffer.alloc(4), ...args.map((a) => Buffer.from(`${a}\0`))]);
    body.writeUInt32LE(1, 0);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(body.length, 0);
    child.stdin.write(Buffer.concat([head, body]));
    // Frames: u8 type, u32 id, u32 length, data; 'X' once the child has ended.
    const out: string[] = [];
    for (let i = 0; i < 500; i++) {
      const all = Buffer.concat(frames);
      let off = 0,
        ended = false;
      out.length = 0;
      while (all.length - off >= 9) {
        const len = all.readUInt32LE(off + 5);
        if (all.length - off - 9 < len) break;
        const type = String.fromCharCode(all[off]!);
        if (type === "O") out.push(all.subarray(off + 9, off + 9 + len).toString());
        if (type === "X") ended = true;
        off += 9 + len;
      }
      if (ended) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.stdin.end();
    expect(
      out
        .join("")
        .split("\n")
        .filter(Boolean)
        .sort((a, b) => Number(a) - Number(b)),
    ).toEqual(["0", "1", "2"]);
    expect(readFileSync(file, "utf8")).toBe("");
  });
});
