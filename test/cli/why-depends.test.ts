// `bramble why-depends A B` prints what `nix why-depends` prints: the chain of references as a
// tree (├───, └───, │ padding), every path with --all, and with --precise the file holding each
// reference and the bytes around it, then `→ path`. A real store: app refers to liba through a
// symlink and to mid through a file; mid refers to liba through a file.
import { basename, join } from "node:path";
import { Command, CommanderError } from "commander";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { derivationHash } from "../../core/derivation/derivation.js";
import { openEngine } from "../../core/build/engine.js";
import { registerEngineCommands } from "../../core/cli/engine-commands.js";
import { build, cleanupTemps, graph, ref, shDrv, tempDir } from "../engine/helpers.js";

let out: string[] = [];

async function bramble(...args: string[]): Promise<{ code: number; stdout: string }> {
  out = [];
  const program = new Command().exitOverride();
  registerEngineCommands(program);
  let code = 0;
  try {
    await program.parseAsync(["node", "bramble", ...args]);
  } catch (e) {
    code = e instanceof CommanderError ? e.exitCode : 1;
  }
  return { code, stdout: out.join("") };
}

beforeEach(() => {
  process.env.BRAMBLE_PATH = join(tempDir(), "home");
  vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void out.push(`${a.join(" ")}\n`));
  vi.spyOn(console, "error").mockImplementation(() => {});
  vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => {
    out.push(String(s));
    return true;
  });
});

afterEach(() => {
  vi.restoreAllMocks();
  delete process.env.BRAMBLE_PATH;
  cleanupTemps();
});

async function fixture(): Promise<Record<string, string>> {
  const engine = openEngine(process.env.BRAMBLE_PATH);
  const liba = shDrv("liba", "mkdir $out; echo lib > $out/lib");
  const mid = shDrv("mid", `mkdir $out; printf 'include=${ref(liba)}/lib\\n' > $out/conf`);
  const app = shDrv("app", `mkdir -p $out/bin; printf '#!/bin/sh\\nexec ${ref(mid)}/conf "$@"\\n' > $out/bin/run; ln -s ${ref(liba)}/lib $out/link`);
  const r = await build(engine, graph(liba, mid, app), [app]);
  expect(r.result.status).toBe("built");
  const paths = Object.fromEntries([liba, mid, app].map((d) => [d.name, r.result.outputs.get(derivationHash(d))!.out!]));
  engine.close();
  return paths;
}

/** The bytes nix shows around a reference: up to 32 before the hash and 32 after, "…" where cut. */
function around(text: string, path: string): string {
  const hash = basename(path).slice(0, 32);
  const at = text.indexOf(hash);
  const start = Math.max(0, at - 32);
  const end = Math.min(text.length, at + 32 + 32);
  return `${start > 0 ? "…" : ""}${text.slice(start, end).replace(/\n/g, ".")}${end < text.length ? "…" : ""}`;
}

describe("bramble why-depends", () => {
  it("prints the shortest chain as a tree", async () => {
    const p = await fixture();
    const r = await bramble("why-depends", "app", "liba");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${p.app}\n└───${p.liba}\n`);
    expect((await bramble("why-depends", "liba", "app")).code).toBe(1);
  });

  it("--all prints every path from A to B, each node expanded once", async () => {
    const p = await fixture();
    const r = await bramble("why-depends", "--all", "app", "liba");
    expect(r.stdout).toBe(`${p.app}\n├───${p.liba}\n└───${p.mid}\n    └───${p.liba}\n`);
  });

  it("--precise names the file holding each reference and the bytes around it", async () => {
    const p = await fixture();
    const link = `-> ${around(`${p.liba}/lib`, p.liba!)}`;
    const run = around(`#!/bin/sh\nexec ${p.mid}/conf "$@"\n`, p.mid!);
    const conf = around(`include=${p.liba}/lib\n`, p.liba!);
    expect((await bramble("why-depends", "--precise", "app", "liba")).stdout).toBe(`${p.app}\n└───link: ${link}\n    → ${p.liba}\n`);
    expect((await bramble("why-depends", "--all", "--precise", "app", "liba")).stdout).toBe(
      [p.app, `├───link: ${link}`, `│   → ${p.liba}`, `└───bin/run: ${run}`, `    → ${p.mid}`, `    └───conf: ${conf}`, `        → ${p.liba}`, ""].join("\n"),
    );
  });
});
