// vitest setupFiles (first): every test process, and every CLI, server and browser it starts
// (they inherit the environment), gets a HOME and XDG directories of its own, so a test
// never reads or writes the developer's ~/.config/bramble, ~/bramble or caches. Settings
// from the developer's shell that change the engine's behaviour are dropped.
// (user-config.ts then writes the tests' own user config.)
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const home = mkdtempSync(join(tmpdir(), "bramble-test-home-"));
for (const d of [".config", ".cache", ".local/share"]) mkdirSync(join(home, d), { recursive: true });
process.env.HOME = home;
process.env.XDG_CONFIG_HOME = join(home, ".config");
process.env.XDG_CACHE_HOME = join(home, ".cache");
process.env.XDG_DATA_HOME = join(home, ".local/share");
// The Starlark servers `bramble starlark` starts listen here: the test process's own, which
// stop within 30 s of its removal at exit (core/cli/starlark-server.ts).
mkdirSync(join(home, "run"), { mode: 0o700 });
process.env.XDG_RUNTIME_DIR = join(home, "run");
for (const v of [
  "BRAMBLE_PATH",
  "BRAMBLE_CONFIG",
  "BRAMBLE_EVAL_TIMEOUT",
  "BRAMBLE_EVAL_STEPS",
  "BRAMBLE_KILL_AT",
  "BRAMBLE_SQLITE_BINDING",
  "BRAMBLE_STARLARK_SERVER",
  "BRAMBLE_STARLARK_SERVER_IDLE",
])
  delete process.env[v];
process.on("exit", () => rmSync(home, { recursive: true, force: true }));
