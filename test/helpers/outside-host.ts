// Another machine for the network tests: a network namespace of its own joined to this host by a
// veth pair (198.18.N.0/30, the benchmarking range), with a TCP server in it that answers "hi".
// A networked build must reach it, and no address of this host (build-network.ts): the host's
// own LAN address is not "the outside". Needs root (ip netns), as the engine's tests run here.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";

export interface OutsideHost {
  /** the other machine's address, reachable from this host through the veth pair */
  address: string;
  port: number;
  /** connections the server accepted so far */
  hits(): number;
  close(): void;
}

function ip(...args: string[]): void {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${(r.stderr || r.error?.message || "").trim()}`);
}

const SERVER = `const s = require("net").createServer((c) => { console.log("hit"); c.on("error", () => {}); c.end("hi\\n"); });
s.listen(0, "0.0.0.0", () => console.log("port " + s.address().port));`;

/** Namespaces a killed test process left behind (its pid in the name is gone) are removed. */
function sweep(): void {
  const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  for (const m of list.matchAll(/^(bramble-outside-(\d+)-[0-9a-f]+)/gm)) {
    try {
      process.kill(Number(m[2]), 0);
    } catch {
      spawnSync("ip", ["netns", "del", m[1]!]);
    }
  }
}

export async function outsideHost(): Promise<OutsideHost> {
  sweep();
  const tag = randomBytes(3).toString("hex");
  const ns = `bramble-outside-${process.pid}-${tag}`;
  const here = `bo${tag}h`;
  const there = `bo${tag}n`;
  const net = `198.18.${randomBytes(1)[0]}.${4 * (randomBytes(1)[0]! % 64)}`;
  const [a, b, c, d] = net.split(".").map(Number) as [number, number, number, number];
  const hostSide = `${a}.${b}.${c}.${d + 1}`;
  const address = `${a}.${b}.${c}.${d + 2}`;
  let server: ChildProcess | undefined;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    process.off("exit", close);
    server?.kill("SIGKILL");
    spawnSync("ip", ["netns", "del", ns]); // the veth pair goes with it
  };
  process.once("exit", close);
  try {
    ip("netns", "add", ns);
    ip("link", "add", here, "type", "veth", "peer", "name", there, "netns", ns);
    ip("addr", "add", `${hostSide}/30`, "dev", here);
    ip("link", "set", here, "up");
    ip("-n", ns, "addr", "add", `${address}/30`, "dev", there);
    ip("-n", ns, "link", "set", there, "up");
    ip("-n", ns, "link", "set", "lo", "up");
    server = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", SERVER], { stdio: ["ignore", "pipe", "inherit"] });
    let hits = 0;
    let text = "";
    const port = await new Promise<number>((ok, fail) => {
      server!.on("error", fail);
      server!.on("exit", (code) => fail(new Error(`the outside host's server exited (${code})`)));
      server!.stdout!.on("data", (chunk: Buffer) => {
        text += chunk.toString();
        const lines = text.split("\n");
        text = lines.pop()!;
        for (const l of lines) {
          if (l === "hit") hits++;
          const m = /^port (\d+)$/.exec(l);
          if (m) ok(Number(m[1]));
        }
      });
    });
    return { address, port, hits: () => hits, close };
  } catch (e) {
    close();
    throw e;
  }
}
