// The fetchers' only way out: a connect proxy in the engine, listening on a unix socket that is
// bound into one fetch sandbox (fetch-sandbox.ts), whose own network namespace has nothing but
// `lo`. It speaks HTTP's proxy protocol (CONNECT host:port, and absolute-URI requests for plain
// http, which git's libcurl sends), resolves names itself and connects to the address it
// checked (no second lookup a DNS answer could change), and refuses:
//   - this host's own addresses: loopback (127.0.0.0/8, ::1), unspecified (0.0.0.0/8, ::), the
//     addresses of every interface of this host, and link-local (169.254.0.0/16, fe80::/10:
//     cloud metadata services live there), IPv4-mapped IPv6 forms included;
//   - unless the address and port are those of a configured mirror (mirrors.ts: the loopback
//     Debian mirror of tests and CI, a user's own): those alone of this host are reachable.
// Every hop of a redirect is a new connection, so it is checked here too. Everything else of
// the network is reachable, as for a fixed-output derivation's builder (sandbox.ts).
import { lookup } from "node:dns/promises";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import { BlockList, connect, isIP, type Socket } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { mirrorEndpoints } from "./mirrors.js";

class FetchProxyRefusal extends Error {}

/** Addresses that are this host's own (or its link-local neighbours'). */
function hostAddresses(): BlockList {
  const b = new BlockList();
  b.addSubnet("127.0.0.0", 8, "ipv4");
  b.addSubnet("0.0.0.0", 8, "ipv4");
  b.addSubnet("169.254.0.0", 16, "ipv4");
  b.addSubnet("::", 96, "ipv6"); // ::, ::1 and IPv4-compatible addresses
  b.addSubnet("::ffff:127.0.0.0", 104, "ipv6");
  b.addSubnet("::ffff:0.0.0.0", 104, "ipv6");
  b.addSubnet("::ffff:169.254.0.0", 112, "ipv6");
  b.addSubnet("fe80::", 10, "ipv6");
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      try {
        b.addAddress(i.address.replace(/%.*$/, ""), i.family === "IPv6" ? "ipv6" : "ipv4");
        if (i.family === "IPv4") b.addAddress(`::ffff:${i.address}`, "ipv6");
      } catch {
        /* an address BlockList cannot parse: link-local and loopback are blocked by range anyway */
      }
    }
  }
  return b;
}

function family(address: string): "ipv4" | "ipv6" {
  return isIP(address) === 6 ? "ipv6" : "ipv4";
}

/** `host:port` of a CONNECT request (`[v6]:port` too), or null. */
function parseTarget(target: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:/[\]]+)):(\d{1,5})$/.exec(target);
  const port = Number(m?.[3]);
  if (!m || !(port > 0 && port < 65536)) return null;
  return { host: (m[1] ?? m[2]!).toLowerCase(), port };
}

async function addressesOf(host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  return (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
}

interface Policy {
  blocked: BlockList;
  /** by port: the addresses of the configured mirrors listening on it */
  allowed: Map<number, BlockList>;
  mirrors: string[];
}

async function policy(): Promise<Policy> {
  const blocked = hostAddresses();
  const allowed = new Map<number, BlockList>();
  const mirrors: string[] = [];
  for (const m of await mirrorEndpoints()) {
    if (!m.addresses.length) continue;
    let list = allowed.get(m.port);
    if (!list) allowed.set(m.port, (list = new BlockList()));
    for (const a of m.addresses) list.addAddress(a, family(a));
    mirrors.push(`${m.host}:${m.port}`);
  }
  return { blocked, allowed, mirrors };
}

/** The address to connect to for host:port, checked; a FetchProxyRefusal says why not. */
async function checkedAddress(p: Policy, host: string, port: number): Promise<string> {
  let addrs: string[];
  try {
    addrs = await addressesOf(host);
  } catch (e) {
    throw new FetchProxyRefusal(`cannot resolve ${host}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  for (const a of addrs) {
    if (!p.blocked.check(a, family(a))) return a;
    if (p.allowed.get(port)?.check(a, family(a))) return a;
  }
  throw new FetchProxyRefusal(
    `${host}:${port} is this host's own address (${addrs.join(", ")}): a fetcher reaches a service of this host only when it is a configured mirror (${
      p.mirrors.length ? p.mirrors.join(", ") : "none is"
    }; [mirrors] in the user's config or $BRAMBLE_MIRROR_<NAME>)`,
  );
}

function refuse(socket: Duplex, status: number, why: string): void {
  // The reason is the status line's text: the fetcher reports it as it is.
  socket.end(`HTTP/1.1 ${status} ${why.replace(/[\r\n]+/g, " ")}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

export interface FetchProxy {
  /** a directory of its own (0700) holding the socket, `proxy.sock`: bound into the sandbox */
  dir: string;
  /** "host:port → refused: why" for every refused connection, in order */
  refusals: string[];
  close(): Promise<void>;
}

/** Start a proxy for one fetch sandbox; `log` gets a line per refusal. */
export async function startFetchProxy(log: (line: string) => void): Promise<FetchProxy> {
  const p = await policy();
  // A short path of its own (a unix socket's path is at most 107 bytes), only this user may enter.
  const base = tmpdir().length <= 80 ? tmpdir() : "/tmp";
  const dir = mkdtempSync(join(base, "bramble-fp-"));
  const path = join(dir, "proxy.sock");
  const refusals: string[] = [];
  const open = new Set<Socket | Duplex>();
  const note = (target: string, e: unknown): string => {
    const why = e instanceof FetchProxyRefusal ? e.message : `connecting to ${target}: ${(e as Error).message}`;
    if (e instanceof FetchProxyRefusal) refusals.push(why);
    log(`bramble: fetch proxy: ${why}`);
    return why;
  };
  const refused = (target: string, e: unknown, socket: Duplex) => refuse(socket, e instanceof FetchProxyRefusal ? 403 : 502, note(target, e));
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    // A plain-http request through the proxy: "GET http://host:port/path HTTP/1.1".
    let u: URL;
    try {
      u = new URL(req.url ?? "");
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (u.protocol !== "http:") {
      res.writeHead(400, "only http:// is forwarded; https goes through CONNECT").end();
      return;
    }
    const host = u.hostname.replace(/^\[|\]$/g, "").toLowerCase();
    const port = Number(u.port || 80);
    checkedAddress(p, host, port).then(
      (address) => {
        const headers = { ...req.headers };
        for (const h of Object.keys(headers)) if (h.startsWith("proxy-")) delete headers[h];
        const up = request({ host: address, port, method: req.method, path: u.pathname + u.search, headers, setHost: false }, (r) => {
          res.writeHead(r.statusCode ?? 502, r.statusMessage, r.headers);
          r.pipe(res);
        });
        up.on("error", (e) => (res.headersSent ? res.destroy() : res.writeHead(502, e.message.replace(/[\r\n]+/g, " ")).end()));
        req.pipe(up);
      },
      (e) => {
        const why = note(`${host}:${port}`, e);
        res.writeHead(e instanceof FetchProxyRefusal ? 403 : 502, why.replace(/[\r\n]+/g, " ")).end();
      },
    );
  });
  server.on("connect", (req: IncomingMessage, client: Duplex, head: Buffer) => {
    open.add(client);
    client.on("close", () => open.delete(client));
    client.on("error", () => {});
    const t = parseTarget(req.url ?? "");
    if (!t) return refuse(client, 400, `not a host:port: ${JSON.stringify(req.url ?? "").slice(0, 100)}`);
    const target = `${t.host.includes(":") ? `[${t.host}]` : t.host}:${t.port}`;
    checkedAddress(p, t.host, t.port).then(
      (address) => {
        const up = connect({ host: address, port: t.port });
        open.add(up);
        up.on("close", () => open.delete(up));
        up.once("connect", () => {
          client.write("HTTP/1.1 200 Connection established\r\n\r\n");
          if (head.length) up.write(head);
          up.pipe(client);
          client.pipe(up);
        });
        up.on("error", (e) => (up.readyState === "opening" || !up.remoteAddress ? refused(target, e, client) : client.destroy()));
        client.on("close", () => up.destroy());
      },
      (e) => refused(target, e, client),
    );
  });
  server.on("clientError", (_e, s) => s.destroy());
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(path, () => ok());
  });
  return {
    dir,
    refusals,
    close: () =>
      new Promise<void>((ok) => {
        for (const s of open) s.destroy();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          ok();
        });
        server.closeAllConnections();
      }),
  };
}
