// `npm run app`: build, make a better-sqlite3 binary for Electron's own Node ABI (kept
// apart from node_modules, which stays built for Node so the CLI and tests keep working),
// and start the desktop app on the bundled example.
import { execFileSync, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
execFileSync(process.execPath, [join(root, "scripts/build.mjs")], { stdio: "inherit" });

let electron;
try {
  electron = require("electron"); // the path of Electron's binary
} catch {
  electron = undefined;
}
if (!electron || !existsSync(electron)) {
  console.error("Electron's binary is not installed (ELECTRON_SKIP_BINARY_DOWNLOAD was set, or it could not be downloaded).");
  console.error("Install it with `npm rebuild electron` on a machine that can download it, or use `npm start` to open the app in a browser.");
  process.exit(1);
}

const electronVersion = JSON.parse(readFileSync(require.resolve("electron/package.json"), "utf8")).version;
const nativeDir = join(root, "dist/electron/native");
const binding = join(nativeDir, "better_sqlite3.node");
const stamp = join(nativeDir, "electron-version");
if (!existsSync(binding) || !existsSync(stamp) || readFileSync(stamp, "utf8") !== electronVersion) {
  console.log(`building better-sqlite3 for Electron ${electronVersion}`);
  const work = mkdtempSync(join(tmpdir(), "bramble-electron-sqlite-"));
  const moduleDir = join(work, "node_modules/better-sqlite3");
  cpSync(dirname(require.resolve("better-sqlite3/package.json")), moduleDir, { recursive: true, dereference: true });
  writeFileSync(join(work, "package.json"), JSON.stringify({ name: "electron-sqlite", version: "0.0.0", dependencies: { "better-sqlite3": "*" } }));
  execFileSync(join(root, "node_modules/.bin/electron-rebuild"), ["--force", "--only", "better-sqlite3", "--version", electronVersion, "--module-dir", work], {
    stdio: "inherit",
  });
  mkdirSync(nativeDir, { recursive: true });
  cpSync(join(moduleDir, "build/Release/better_sqlite3.node"), binding);
  writeFileSync(stamp, electronVersion);
  rmSync(work, { recursive: true, force: true });
}

const child = spawn(electron, [root, ...process.argv.slice(2)], {
  stdio: "inherit",
  env: { ...process.env, BRAMBLE_SQLITE_BINDING: binding },
});
child.on("exit", (code) => process.exit(code ?? 0));
