// Every test process gets a user config of its own (vitest setupFiles), never the developer's
// real ~/.config/bramble: it allows the host paths the test fixtures' /bin/sh builders need
// (their bramble.toml sandbox_paths), and CLI children inherit it through the environment.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The host directories a /bin/sh builder of a test fixture needs. */
export const TEST_ALLOWED_PATHS = ["/usr", "/bin", "/lib", "/lib64"];

const dir = mkdtempSync(join(tmpdir(), "bramble-config-"));
writeFileSync(join(dir, "config.toml"), `[sandbox]\nallowed_paths = ${JSON.stringify(TEST_ALLOWED_PATHS)}\n`);
process.env.XDG_CONFIG_HOME = dir;
process.env.BRAMBLE_CONFIG = join(dir, "config.toml");
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
