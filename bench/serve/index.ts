// `npm run bench -- serve`: 20 WebSocket clients follow the logs of a build that prints
// 100,000 lines through `bramble serve`. Each client must receive every line in order, or a
// marker saying how many were dropped where it fell behind; memory must stay bounded. Five of
// the clients stop reading until the others have everything, to force the server's backpressure. Prints the figures
// and appends them to test-results/reliability.jsonl (the "load" row of docs/reliability.md).
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";

const LINES = 100_000;
const CLIENTS = Number(process.env.BENCH_SERVE_CLIENTS ?? 20);
const SLOW = Math.min(5, CLIENTS - 1);
const repo = join(dirname(fileURLToPath(import.meta.url)), "../..");

interface Follower {
  received: number;
  dropped: number;
  markers: number;
  next: number;
  outOfOrder: number;
  done: boolean;
}

export async function run(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "bramble-bench-serve-"));
  const project = join(work, "proj");
  mkdirSync(project);
  writeFileSync(join(project, "bramble.toml"), '[package]\nname = "loud"\n\n[build]\nsandbox_paths = ["/bin", "/usr", "/lib", "/lib64"]\n');
  writeFileSync(
    join(project, "default.bramble"),
    `def default():\n    return derivation(name = "loud", builder = "/bin/sh", env = {"PATH": "/usr/bin:/bin", "n": "${Date.now()}"}, args = ["-c", "seq 0 ${LINES - 1} | sed 's/^/line /'; echo done > $out"])\n`,
  );
  // The server is a real `bramble serve` process, so its memory is measured apart from the clients'.
  const cli = join(repo, "dist/cli.mjs");
  if (!existsSync(cli)) spawnSync(process.execPath, [join(repo, "scripts/build.mjs")], { cwd: repo, stdio: "inherit" });
  // The build borrows the host's /bin/sh: the bench's own user config allows it (host paths are the user's decision).
  writeFileSync(join(work, "config.toml"), '[sandbox]\nallowed_paths = ["/bin", "/usr", "/lib", "/lib64"]\n');
  const child = spawn(process.execPath, [cli, "serve", project, "--port", "0"], {
    env: { ...process.env, BRAMBLE_PATH: join(work, "home"), BRAMBLE_CONFIG: join(work, "config.toml") },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const server = await new Promise<{ port: number; token: string }>((resolve, reject) => {
    let out = "";
    child.once("exit", (code) => reject(new Error(`bramble serve exited ${code}`)));
    child.stdout!.on("data", (d: Buffer) => {
      out += d;
      const m = /:(\d+)\/\?token=([0-9a-f]+)/.exec(out);
      if (m) resolve({ port: Number(m[1]), token: m[2]! });
    });
  });
  const status = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1] ?? 0) * 1024;
  const baseRss = status("VmRSS");
  const followers: Follower[] = [];
  const sockets: WebSocket[] = [];
  let finish!: () => void;
  const allDone = new Promise<void>((r) => (finish = r));
  for (let i = 0; i < CLIENTS; i++) {
    const batch = i % 2 === 0;
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api?token=${server.token}${batch ? "&batch=1" : ""}`);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    const f: Follower = { received: 0, dropped: 0, markers: 0, next: 0, outOfOrder: 0, done: false };
    followers.push(f);
    sockets.push(ws);
    ws.on("message", (raw) => {
      const msg = JSON.parse(String(raw)) as { event?: { type: string; line?: string }; events?: { type: string; line?: string }[] };
      for (const e of msg.events ?? (msg.event ? [msg.event] : [])) {
        if (e.type === "log") {
          const dropped = /^\[bramble: (\d+) log lines dropped/.exec(e.line!);
          if (dropped) {
            f.markers++;
            f.dropped += Number(dropped[1]);
            f.next += Number(dropped[1]);
            continue;
          }
          const n = Number(/^line (\d+)$/.exec(e.line!)?.[1] ?? NaN);
          if (Number.isNaN(n)) continue;
          if (n !== f.next) f.outOfOrder++;
          f.next = n + 1;
          f.received++;
        } else if (e.type === "run-finished") {
          f.done = true;
          if (followers.every((x) => x.done)) finish();
        }
      }
    });
  }
  // Slow readers: stop reading from the socket until every other client has the whole log,
  // so the server must hold back (and drop, with a marker) instead of buffering without bound.
  const slow = sockets.slice(CLIENTS - SLOW);
  for (const ws of slow) (ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const resumeSlow = setInterval(() => {
    if (!followers.slice(0, CLIENTS - SLOW).every((f) => f.done)) return;
    clearInterval(resumeSlow);
    for (const ws of slow) (ws as unknown as { _socket: { resume(): void } })._socket.resume();
  }, 50);
  const start = Date.now();
  sockets[0]!.send(JSON.stringify({ id: 1, method: "build.start", params: { project, moduleArg: ".:default" } }));
  const timeout = setTimeout(() => finish(), 180_000);
  await allDone;
  clearTimeout(timeout);
  const seconds = (Date.now() - start) / 1000;
  const peakRss = status("VmHWM");
  for (const ws of sockets) ws.close();
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
  rmSync(work, { recursive: true, force: true });

  const complete = followers.filter((f) => f.received === LINES).length;
  const accounted = followers.filter((f) => f.received + f.dropped === LINES && f.outOfOrder === 0).length;
  const finished = followers.filter((f) => f.done).length;
  console.log(`clients: ${CLIENTS} (${SLOW} stop reading until the others are done), log lines: ${LINES.toLocaleString("en")}`);
  console.log(`build + delivery to every client: ${seconds.toFixed(1)} s`);
  console.log(`clients that got every line in order: ${complete}`);
  console.log(`clients whose lines were in order and every gap was announced by a marker: ${accounted}/${CLIENTS}`);
  for (const [i, f] of followers.entries()) {
    if (f.dropped) console.log(`  client ${i}: ${f.received.toLocaleString("en")} lines, ${f.dropped.toLocaleString("en")} dropped in ${f.markers} marker(s)`);
  }
  console.log(`out-of-order lines: ${followers.reduce((a, f) => a + f.outOfOrder, 0)}`);
  console.log(`bramble serve's memory: peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB (${(baseRss / 2 ** 20).toFixed(0)} MiB before the build)`);
  const held = accounted === CLIENTS && finished === CLIENTS;
  mkdirSync(join(repo, "test-results"), { recursive: true });
  appendFileSync(
    join(repo, "test-results/reliability.jsonl"),
    JSON.stringify({
      area: "load",
      attack: `${CLIENTS} WebSocket clients following a ${LINES.toLocaleString("en")}-line build log (${SLOW} stop reading until the others are done) — npm run bench -- serve`,
      tries: 1,
      held,
      detail: `${complete === CLIENTS ? "every client got every line in order, none dropped" : `${complete} clients got every line in order; the ${CLIENTS - complete} that fell behind got in-order lines and markers accounting for every gap (${followers.reduce((a, f) => a + f.dropped, 0).toLocaleString("en")} lines dropped in all)`}; ${seconds.toFixed(1)} s; bramble serve's peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB (${(baseRss / 2 ** 20).toFixed(0)} MiB idle)`,
      at: new Date().toISOString(),
    }) + "\n",
  );
  if (!held) {
    console.log("FAILED: a client lost lines without a marker, got them out of order, or never saw the run finish");
    process.exitCode = 1;
  }
}
