// The seed library (lib/ in this repository: busybox-static, the Go toolchain, a C toolchain)
// is a bramble package that ships with the engine. A project loads it by name, load("seeds")
// or load("seeds/debian"), without declaring it; a [dependencies] seeds = { path = "..." }
// of its own takes precedence. $BRAMBLE_SEEDS points the engine at another copy.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const SEEDS_PACKAGE = "seeds";

let found: string | null | undefined;

/** The seed library's directory, or null when this engine was installed without it. */
export function seedLibraryDir(): string | null {
  if (process.env.BRAMBLE_SEEDS) return resolve(process.env.BRAMBLE_SEEDS);
  if (found !== undefined) return found;
  // From this module (core/project/ in source, dist/ when bundled) up to the repository root.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, "lib", "bramble.toml")) && existsSync(join(dir, "lib", "default.bramble"))) return (found = join(dir, "lib"));
    dir = dirname(dir);
  }
  return (found = null);
}
