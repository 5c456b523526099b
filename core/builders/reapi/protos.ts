// The REAPI protocol definitions, loaded at run time with protobufjs. They come from
// dependencies, not from files in this repository:
//   - build/bazel/remote/execution/v2 and build/bazel/semver: the Go module
//     github.com/bazelbuild/remote-apis at REMOTE_APIS_VERSION (the version Buildbarn's tools
//     module pins in test/reapi/buildbarn/go.sum), copied into dist/reapi-protos by
//     scripts/reapi-protos.mjs, or read straight from the Go module cache;
//   - google/{api,longrunning,rpc,bytestream,protobuf}: the npm package google-proto-files.
import { existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type protobuf from "protobufjs";

export const REMOTE_APIS_MODULE = "github.com/bazelbuild/remote-apis";
export const REMOTE_APIS_VERSION = "v0.0.0-20240924123010-a6328f5026d3";
const REAPI_PROTO = "build/bazel/remote/execution/v2/remote_execution.proto";

/** The directories searched for the remote-apis protos, first hit wins. */
export function remoteApisCandidates(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const out: string[] = [];
  if (process.env.BRAMBLE_REAPI_PROTOS) out.push(process.env.BRAMBLE_REAPI_PROTOS);
  // dist/cli.mjs (bundled) and core/builders/reapi/protos.ts (tests) both find the checkout's dist/.
  for (const up of ["..", "../../..", "../../../.."]) out.push(join(here, up, "dist", "reapi-protos"));
  let modCache = process.env.GOMODCACHE;
  if (!modCache) {
    try {
      const go = existsSync("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : "go";
      modCache = execFileSync(go, ["env", "GOMODCACHE"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    } catch {
      /* no Go here */
    }
  }
  if (modCache) out.push(join(modCache, `${REMOTE_APIS_MODULE.toLowerCase()}@${REMOTE_APIS_VERSION}`));
  return out;
}

let loaded: protobuf.Root | undefined;

/** protobufjs, loaded on first use (CLI start-up stays light when no reapi backend builds). */
export function pb(): typeof protobuf {
  return createRequire(import.meta.url)("protobufjs") as typeof protobuf;
}

/** The REAPI, ByteStream and longrunning messages and services; throws with what to run when they are missing. */
export function reapiRoot(): protobuf.Root {
  if (loaded) return loaded;
  const remoteApis = remoteApisCandidates().find((d) => existsSync(join(d, REAPI_PROTO)));
  if (!remoteApis) {
    throw new Error(
      `the REAPI protocol definitions (${REMOTE_APIS_MODULE}@${REMOTE_APIS_VERSION}) are not here: ` +
        `run scripts/setup-buildbarn.sh or node scripts/reapi-protos.mjs (they need Go and the Go module proxy)`,
    );
  }
  const googleProtos = dirname(createRequire(import.meta.url).resolve("google-proto-files/package.json"));
  const root = new (pb().Root)();
  root.resolvePath = (_origin, target) => {
    for (const base of [remoteApis, googleProtos]) {
      const p = join(base, target);
      if (existsSync(p)) return p;
    }
    return target;
  };
  root.loadSync([REAPI_PROTO, "google/bytestream/bytestream.proto"], { keepCase: true });
  root.resolveAll();
  return (loaded = root);
}

export function reapiType(name: string): protobuf.Type {
  return reapiRoot().lookupType(name.includes(".") ? name : `build.bazel.remote.execution.v2.${name}`);
}
