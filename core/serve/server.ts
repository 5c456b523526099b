// `bramble serve`: the renderer as static files plus the service over a WebSocket, on
// loopback, behind a random token. The page gets the token in its URL and gives it to the
// WebSocket as a subprotocol (`bramble-token.<hex>`); it is never a cookie, because a
// cookie for 127.0.0.1 goes to every server on 127.0.0.1, whatever its port. The page's
// scripts and styles are public (the same for everyone) and load without it. Requests whose
// Host header is a DNS name (not localhost or an IP literal) are refused: a page of another
// site cannot reach this server by rebinding its own name to 127.0.0.1.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize, sep } from "node:path";
import { WebSocketServer, type WebSocket } from "ws";
import { ClientMessage, type BuildEvent, type ServerMessage } from "../api/schema.js";
import { dispatch, toApiError, type ServiceHost } from "../api/service.js";

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const MAX_MESSAGE_BYTES = 1 << 20;
/** The methods that evaluate a project (and so take an evalId). */
const EVALUATING = new Set(["graph.evaluate", "graph.diff", "build.start"]);
/** A client further behind than this gets log lines dropped (with a marker), not unbounded memory. */
const MAX_BUFFERED_BYTES = 8 << 20;
/** Events queued for one client before they are sent without waiting for the flush timer. */
const MAX_QUEUED_EVENTS = 10_000;
/** Events are sent at most this often (ms): a busy build's log lines go out in batches. */
const FLUSH_MS = 15;

const MIME: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
  ".map": "application/json",
  ".woff2": "font/woff2",
};

export interface ServeOptions {
  host: ServiceHost;
  staticDir: string;
  bind?: string;
  port?: number;
  token?: string;
  log?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  token: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

function tokenMatches(given: string | null | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The subprotocol that carries the token, and the one the server answers with. */
export const TOKEN_PROTOCOL_PREFIX = "bramble-token.";
export const API_PROTOCOL = "bramble";

function protocolToken(req: IncomingMessage): string | undefined {
  const offered = String(req.headers["sec-websocket-protocol"] ?? "")
    .split(",")
    .map((p) => p.trim());
  return offered.find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX))?.slice(TOKEN_PROTOCOL_PREFIX.length);
}

/**
 * A Host header this server answers: localhost or an IP literal (any port). A DNS name is
 * refused, so a rebinding attack (a foreign name resolved to 127.0.0.1) gets nothing.
 */
export function hostAllowed(host: string | undefined): boolean {
  if (!host) return false;
  let hostname: string;
  try {
    hostname = new URL(`http://${host}`).hostname;
  } catch {
    return false;
  }
  if (hostname === "localhost") return true;
  if (/^\[[0-9a-f:.]+\]$/i.test(hostname)) return true;
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname);
}

/** The URL of a request; undefined for one that does not parse (a malformed escape is checked later). */
function requestUrl(req: IncomingMessage): URL | undefined {
  try {
    return new URL(req.url ?? "/", "http://localhost");
  } catch {
    return undefined;
  }
}

/** A decoded path, or undefined for a malformed percent escape. */
function decodedPath(pathname: string): string | undefined {
  try {
    return decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
}

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const token = opts.token ?? randomBytes(16).toString("hex");
  const bind = opts.bind ?? "127.0.0.1";
  const log = opts.log ?? ((line: string) => console.error(line));
  const index = join(opts.staticDir, "index.html");
  if (!existsSync(index)) throw new Error(`the app is not built (${index} is missing): run npm run build`);

  const authorized = (req: IncomingMessage, url: URL) => tokenMatches(url.searchParams.get("token"), token) || tokenMatches(protocolToken(req), token);

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    res.setHeader("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Referrer-Policy", "no-referrer");
    const url = requestUrl(req);
    const path = url && decodedPath(url.pathname);
    if (!url || path === undefined || path.includes("\0")) {
      log(`refused ${req.method} with a malformed URL from ${req.socket.remoteAddress}`);
      res.writeHead(400, { "Content-Type": "text/plain" }).end("bad request: malformed URL\n");
      return;
    }
    if (!hostAllowed(req.headers.host)) {
      log(
        `refused ${req.method} ${url.pathname} from ${req.socket.remoteAddress}: Host ${JSON.stringify(req.headers.host ?? "")} is not localhost or an IP address`,
      );
      res.writeHead(403, { "Content-Type": "text/plain" }).end("forbidden: unexpected Host header\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405).end("method not allowed\n");
      return;
    }
    const rel = normalize(path).replace(/^([/\\])+/, "");
    let file = join(opts.staticDir, rel);
    const inside = file.startsWith(opts.staticDir + sep) || file === opts.staticDir;
    // A path with an extension (other than .html) is an asset: the app's scripts, styles and
    // icons are public, and a missing one is a 404. Any other path is the page, which the
    // token opens.
    const asset = inside && extname(rel) !== "" && extname(rel) !== ".html";
    if (asset && !(existsSync(file) && statSync(file).isFile())) {
      res.writeHead(404).end();
      return;
    }
    if (!asset && !authorized(req, url)) {
      log(`refused ${req.method} ${url.pathname} from ${req.socket.remoteAddress}: missing or wrong token`);
      res.writeHead(403, { "Content-Type": "text/plain" }).end("forbidden: open the URL bramble serve printed (it carries the token)\n");
      return;
    }
    if (!inside) {
      res.writeHead(404).end();
      return;
    }
    if (!asset) file = index;
    res.writeHead(200, { "Content-Type": MIME[extname(file)] ?? "application/octet-stream", "Cache-Control": "no-cache" });
    if (req.method === "HEAD") res.end();
    else createReadStream(file).pipe(res);
  });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    // Answer with "bramble", never echoing the token back.
    handleProtocols: (offered) => (offered.has(API_PROTOCOL) ? API_PROTOCOL : false),
  });
  server.on("upgrade", (req, socket, head) => {
    const url = requestUrl(req);
    const origin = req.headers.origin;
    const hostHeader = req.headers.host;
    const sameOrigin = origin === undefined || origin === `http://${hostHeader}`;
    const goodHost = hostAllowed(hostHeader);
    if (!url || url.pathname !== "/api" || !goodHost || !authorized(req, url) || !sameOrigin) {
      const why = !url
        ? "malformed URL"
        : !goodHost
          ? `Host ${JSON.stringify(hostHeader ?? "")} is not localhost or an IP address`
          : sameOrigin
            ? "missing or wrong token"
            : "foreign origin";
      log(`refused WebSocket ${url?.pathname ?? "?"} from ${req.socket.remoteAddress} (origin ${origin ?? "none"}): ${why}`);
      socket.write("HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n");
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
  });

  // Each client has its own queue of events. A client that asked for batches (`?batch=1`,
  // as the renderer does) gets them as `{events: [...]}` once per flush; others get one
  // `{event}` message each. Log lines for a client that has fallen behind are dropped and
  // it later gets one marker line saying how many.
  interface Client {
    batch: boolean;
    queue: BuildEvent[];
    dropped: number;
    lastDropped?: Extract<BuildEvent, { type: "log" }>;
  }
  const clients = new Map<WebSocket, Client>();
  let flushTimer: NodeJS.Timeout | null = null;
  const send = (ws: WebSocket, msg: ServerMessage) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
  };
  const flushClient = (ws: WebSocket, c: Client) => {
    if (c.queue.length === 0) return;
    const events = c.queue;
    c.queue = [];
    if (c.batch) send(ws, { events });
    else for (const event of events) send(ws, { event });
  };
  const flush = () => {
    flushTimer = null;
    for (const [ws, c] of clients) flushClient(ws, c);
  };
  const unsubscribe = opts.host.onEvent((event: BuildEvent) => {
    for (const [ws, c] of clients) {
      // Only a client whose socket is really backed up loses lines. A full queue is sent at
      // once instead: a builder's burst of lines arrives within one tick, before the flush timer
      // (with the queue's limit as the drop rule, a 100,000-line burst lost half its lines for
      // every client, however fast).
      if (event.type === "log" && ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        c.dropped++;
        c.lastDropped = event;
        continue;
      }
      if (c.queue.length >= MAX_QUEUED_EVENTS) flushClient(ws, c);
      // The marker goes before whatever comes next, so a gap is announced before the client
      // sees the build end.
      if (c.dropped > 0 && c.lastDropped) {
        c.queue.push({ ...c.lastDropped, line: `[bramble: ${c.dropped} log lines dropped: this client fell behind; the whole log is kept on disk]` });
        c.dropped = 0;
        c.lastDropped = undefined;
      }
      c.queue.push(event);
    }
    flushTimer ??= setTimeout(flush, FLUSH_MS);
  });

  // Evaluations belong to the connection that asked for them: a client's evalIds are named
  // within its connection (another client cannot cancel them, nor collide with them), every
  // evaluation gets one even if the client gave none, and those still running when the
  // connection closes are cancelled, so a closed tab does not keep a worker busy.
  let connections = 0;
  wss.on("connection", (ws: WebSocket, req: IncomingMessage) => {
    const batch = requestUrl(req)?.searchParams.get("batch") === "1";
    clients.set(ws, { batch, queue: [], dropped: 0 });
    const prefix = `c${++connections}:`;
    const running = new Set<string>();
    const forget = () => {
      clients.delete(ws);
      for (const evalId of running) void dispatch(opts.host.service, "evaluation.cancel", { evalId }).catch(() => {});
      if (running.size) log(`cancelled ${running.size} evaluation(s) of a closed WebSocket from ${req.socket.remoteAddress}`);
      running.clear();
    };
    ws.on("close", forget);
    ws.on("error", (e) => {
      // e.g. a message over MAX_MESSAGE_BYTES: ws closes the socket with 1009.
      forget();
      log(`closed a WebSocket from ${req.socket.remoteAddress}: ${e.message}`);
    });
    ws.on("message", async (data, isBinary) => {
      let id: number | null = null;
      try {
        if (isBinary) throw Object.assign(new Error("binary messages are not accepted"), { field: "(message)" });
        let raw: unknown;
        try {
          raw = JSON.parse(data.toString());
        } catch {
          throw Object.assign(new Error("a message must be JSON"), { field: "(message)" });
        }
        const parsed = ClientMessage.safeParse(raw);
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          if (typeof (raw as { id?: unknown })?.id === "number") id = (raw as { id: number }).id;
          throw Object.assign(new Error(`invalid message: ${issue.path.join(".") || "(message)"}: ${issue.message}`), {
            field: issue.path.join(".") || "(message)",
          });
        }
        id = parsed.data.id;
        const { method } = parsed.data;
        let params = parsed.data.params;
        let evalId: string | undefined;
        if (EVALUATING.has(method) || method === "evaluation.cancel") {
          const p = params && typeof params === "object" && !Array.isArray(params) ? (params as Record<string, unknown>) : {};
          const given = p.evalId;
          if (given !== undefined && (typeof given !== "string" || given.length === 0 || given.length > 64)) {
            throw Object.assign(new Error("evalId must be a string of 1 to 64 characters"), { field: "evalId" });
          }
          if (given !== undefined || method !== "evaluation.cancel") {
            evalId = `${prefix}${given ?? `request-${id}`}`;
            params = { ...p, evalId };
          }
        }
        if (evalId && method !== "evaluation.cancel") running.add(evalId);
        let result: unknown;
        try {
          result = await dispatch(opts.host.service, method, params);
        } finally {
          if (evalId && method !== "evaluation.cancel") running.delete(evalId);
        }
        send(ws, { id, result });
      } catch (err) {
        const error = toApiError(err);
        if (error.field) log(`rejected a WebSocket message: ${error.message}`);
        send(ws, { id, error });
      }
    });
  });

  await new Promise<void>((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, bind, () => resolveListen());
  });
  const port = (server.address() as AddressInfo).port;
  const hostPart = bind.includes(":") ? `[${bind}]` : bind;
  return {
    url: `http://${hostPart}:${port}/?token=${token}`,
    token,
    port,
    server,
    close: async () => {
      unsubscribe();
      if (flushTimer) clearTimeout(flushTimer);
      for (const ws of clients.keys()) ws.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
