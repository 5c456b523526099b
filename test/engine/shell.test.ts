// `bramble shell` and `bramble run` sandboxes: the commands the CLI spawns.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { derivationHash } from "../../core/derivation/derivation.js";
import { runCommand, sandboxCommand } from "../../core/builders/shell.js";
import { build, cleanupTemps, graph, ref, SANDBOX_PATHS, shDrv, tempDir, tempEngine } from "./helpers.js";

afterEach(cleanupTemps);

describe("shell and run", () => {
  it("opens a derivation's sandbox with its inputs, env and a writable $out", async () => {
    const engine = tempEngine();
    const a = shDrv("tool", "mkdir -p $out/bin; printf '#!/bin/sh\\necho tool says hi\\n' > $out/bin/tool; chmod +x $out/bin/tool");
    const b = shDrv("broken", `${ref(a)}/bin/tool; exit 1`, { env: { PATH: "/usr/bin:/bin", TOOL: `${ref(a)}/bin/tool` } });
    const drvs = graph(a, b);
    const r = await build(engine, drvs, [b]);
    expect(r.result.status).toBe("failed");

    // Not interactive: runs the builder as the build did.
    const cmd = await sandboxCommand(engine, derivationHash(b), { interactive: false, projectRoot: tempDir(), sandboxPaths: SANDBOX_PATHS, drvs });
    const run = spawnSync(cmd.argv[0]!, cmd.argv.slice(1), { env: {}, encoding: "utf8" });
    expect(run.stdout).toBe("tool says hi\n");
    expect(run.status).toBe(1);
    cmd.cleanup();
    expect(existsSync(cmd.dir)).toBe(false);

    // Interactive: a shell; feed it commands on stdin.
    const sh = await sandboxCommand(engine, derivationHash(b), { projectRoot: tempDir(), sandboxPaths: SANDBOX_PATHS, drvs });
    const s = spawnSync(sh.argv[0]!, sh.argv.slice(1), { env: {}, encoding: "utf8", input: '$TOOL; echo "$BRAMBLE_BUILDER"; mkdir $out && echo writable\n' });
    expect(s.stdout).toContain("tool says hi");
    expect(s.stdout).toContain("/bin/sh");
    expect(s.stdout).toContain("writable");
    sh.cleanup();

    // A derivation whose inputs are not built cannot open.
    const c = shDrv("later", `cat ${ref(b)}`);
    await expect(sandboxCommand(engine, derivationHash(c), { projectRoot: tempDir(), sandboxPaths: SANDBOX_PATHS, drvs: graph(a, b, c) })).rejects.toThrow(
      /build the inputs of later first: broken/,
    );
    engine.close();
  });

  it("runs a built program with its closure and only the paths it is given", async () => {
    const engine = tempEngine();
    const a = shDrv(
      "hello",
      "mkdir -p $out/bin; printf '#!/bin/sh\\necho hello from the store; cat /etc/hostname 2>/dev/null || echo no host files\\n' > $out/bin/hello; chmod +x $out/bin/hello",
    );
    const r = await build(engine, graph(a), [a]);
    const out = r.result.outputs.get(derivationHash(a))!.out!;
    const cmd = await runCommand(engine, { paths: [out], command: [`${out}/bin/hello`], readOnlyPaths: SANDBOX_PATHS });
    const p = spawnSync(cmd.argv[0]!, cmd.argv.slice(1), { env: {}, encoding: "utf8" });
    expect(p.stdout).toBe("hello from the store\nno host files\n");
    cmd.cleanup();
    const w = tempDir();
    const cmd2 = await runCommand(engine, {
      paths: [out],
      command: ["/bin/sh", "-c", `echo made > ${w}/file`],
      readOnlyPaths: SANDBOX_PATHS,
      writablePaths: [w],
    });
    expect(spawnSync(cmd2.argv[0]!, cmd2.argv.slice(1), { env: {} }).status).toBe(0);
    expect(existsSync(`${w}/file`)).toBe(true);
    cmd2.cleanup();
    await expect(runCommand(engine, { paths: ["/usr/bin"], command: ["x"] })).rejects.toThrow(/not a valid store path/);
    engine.close();
  });
});
