#!/usr/bin/env node
// A loopback HTTP server for the Debian mirror directory scripts/setup-seeds.sh fills
// (default /var/cache/bramble/debian): what tests, CI and `npm start` fetch the seed
// library's .deb files from. Read-only GET/HEAD of files under the directory, nothing else.
//   node scripts/debian-mirror.mjs [--dir DIR] [--port N]   prints the base URL, serves until killed
// Point the engine at it with BRAMBLE_MIRROR_DEBIAN=<that URL>.
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

export const DEFAULT_DEBIAN_DIR = process.env.BRAMBLE_DEBIAN_DIR || "/var/cache/bramble/debian";

/** Serve `dir` on 127.0.0.1:`port` (0 picks one); resolves to { url, close }. */
export function startMirror({ dir = DEFAULT_DEBIAN_DIR, port = 0 } = {}) {
  const root = resolve(dir);
  const server = createServer((req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") return void res.writeHead(405).end();
    let path;
    try {
      path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    } catch {
      return void res.writeHead(400).end();
    }
    const file = resolve(root, `.${path}`);
    if (!file.startsWith(root + sep)) return void res.writeHead(404).end();
    let st;
    try {
      st = statSync(file);
    } catch {
      return void res.writeHead(404).end("not found\n");
    }
    if (!st.isFile()) return void res.writeHead(404).end("not found\n");
    res.writeHead(200, { "content-length": st.size, "content-type": "application/vnd.debian.binary-package" });
    if (req.method === "HEAD") return void res.end();
    createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, "127.0.0.1", () => {
      const { port: p } = server.address();
      ok({ url: `http://127.0.0.1:${p}`, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const { url } = await startMirror({ dir: arg("--dir"), port: Number(arg("--port") ?? 0) });
  console.log(url);
}
