// Copies the REAPI protocol definitions (github.com/bazelbuild/remote-apis, the version
// pinned in core/builders/reapi/protos.ts) from the Go module proxy into dist/reapi-protos,
// where the reapi backend loads them. Nothing is copied into the repository. Needs Go;
// without it the reapi backend falls back to the Go module cache, or says what is missing.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = readFileSync(join(root, "core/builders/reapi/protos.ts"), "utf8");
const version = /REMOTE_APIS_VERSION = "([^"]+)"/.exec(src)[1];
const dest = join(root, "dist/reapi-protos");
if (existsSync(join(dest, "build/bazel/remote/execution/v2/remote_execution.proto"))) process.exit(0);
const go = existsSync("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : "go";
let info;
try {
  // Run in the tools module, whose go.sum pins the module's hash.
  const out = execFileSync(go, ["mod", "download", "-json", `github.com/bazelbuild/remote-apis@${version}`], {
    cwd: join(root, "test/reapi/buildbarn"),
    encoding: "utf8",
    env: { ...process.env, GOFLAGS: "-mod=mod" },
  });
  info = JSON.parse(out);
} catch (e) {
  console.error(`reapi-protos: could not fetch github.com/bazelbuild/remote-apis@${version}: ${e.message}`);
  process.exit(1);
}
for (const rel of ["build/bazel/remote/execution/v2/remote_execution.proto", "build/bazel/semver/semver.proto", "LICENSE"]) {
  mkdirSync(dirname(join(dest, rel)), { recursive: true });
  cpSync(join(info.Dir, rel), join(dest, rel));
}
console.log(`reapi-protos: github.com/bazelbuild/remote-apis@${version} → dist/reapi-protos`);
