// Log lines keep multi-byte characters whole, wherever the pipe cut the bytes.
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { LineSplitter } from "../../core/builders/run.js";

const TEXT = "héllo wörld\n日本語のログ\nemoji 🎉🚀 end\nno newline ☃";
const LINES = ["héllo wörld", "日本語のログ", "emoji 🎉🚀 end", "no newline ☃"];

function split(chunks: Buffer[]): string[] {
  const lines: string[] = [];
  const s = new LineSplitter((l) => lines.push(l));
  for (const c of chunks) s.push(c);
  s.end();
  return lines;
}

describe("log lines from a byte stream", () => {
  it("are the same wherever the stream is cut, down to one byte per chunk", () => {
    const bytes = Buffer.from(TEXT);
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(split([bytes.subarray(0, cut), bytes.subarray(cut)]), `cut at ${cut}`).toEqual(LINES);
    }
    expect(split([...bytes].map((b) => Buffer.from([b])))).toEqual(LINES);
  });

  it("are whole when a real process writes a character in two writes", async () => {
    // printf writes the first two bytes of 日, flushes, sleeps, then writes the rest.
    const child = spawn("/bin/sh", ["-c", "printf '\\346\\227'; sleep 0.2; printf '\\245 ok\\n'"]);
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l));
    let chunks = 0;
    child.stdout.on("data", (c: Buffer) => {
      chunks++;
      s.push(c);
    });
    await new Promise((r) => child.on("close", r));
    s.end();
    // Usually two chunks; the byte-by-byte test above covers every cut whatever the pipe did.
    expect(chunks).toBeGreaterThan(0);
    expect(lines).toEqual(["日 ok"]);
  });
});
