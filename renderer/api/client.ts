// The renderer's one way to the service: the Electron preload bridge when present,
// otherwise the WebSocket of `bramble serve` (same request/response objects, see schema.ts).
import type { ApiError, BuildEvent, Method, Params, Results, ServerMessage } from "../../core/api/schema";

/** What Electron's application menu asks the page to do (electron/ipc.ts MenuAction). */
export type MenuAction = { action: "open-project"; path: string };

export interface BrambleBridge {
  invoke(method: string, params: unknown): Promise<unknown>;
  onEvent(cb: (e: BuildEvent) => void): () => void;
  /** Electron only: the application menu's actions */
  onMenu?(cb: (m: MenuAction) => void): () => void;
  /** Electron only: the native folder dialog */
  pickDirectory?(): Promise<string | null>;
}

declare global {
  interface Window {
    bramble?: BrambleBridge;
  }
}

/** An error the service reported, keeping its field and evaluation error. */
export class ServiceError extends Error {
  readonly field?: string;
  readonly evalError?: ApiError["evalError"];
  constructor(e: ApiError) {
    super(e.message);
    this.name = "ServiceError";
    this.field = e.field;
    this.evalError = e.evalError;
  }
}

type Listener = (e: BuildEvent) => void;
/** "forbidden": the server is up but refuses this page's token (it restarted with a new one) */
export type ConnectionState = "connecting" | "open" | "closed" | "forbidden";

export interface Api {
  call<M extends Method>(method: M, params: Params<M>): Promise<Results[M]>;
  onEvent(cb: Listener): () => void;
  onConnection(cb: (s: ConnectionState) => void): () => void;
}

function toServiceError(e: unknown): ServiceError {
  if (e instanceof ServiceError) return e;
  if (e && typeof e === "object" && "message" in e) return new ServiceError(e as ApiError);
  return new ServiceError({ message: String(e) });
}

function bridgeApi(bridge: BrambleBridge): Api {
  return {
    async call(method, params) {
      try {
        return (await bridge.invoke(method, params)) as never;
      } catch (e) {
        throw toServiceError(e);
      }
    },
    onEvent: (cb) => bridge.onEvent(cb),
    onConnection(cb) {
      cb("open");
      return () => {};
    },
  };
}

function socketApi(url: string, protocols: string[]): Api {
  const listeners = new Set<Listener>();
  const connListeners = new Set<(s: ConnectionState) => void>();
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  let nextId = 1;
  let socket: WebSocket | null = null;
  let opened: Promise<WebSocket> | null = null;
  let state: ConnectionState = "connecting";
  const setState = (s: ConnectionState) => {
    state = s;
    for (const l of connListeners) l(s);
  };

  function connect(): Promise<WebSocket> {
    if (opened) return opened;
    setState("connecting");
    opened = new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url, protocols);
      socket = ws;
      ws.onopen = () => {
        setState("open");
        resolve(ws);
      };
      ws.onmessage = (msg) => {
        let data: ServerMessage;
        try {
          data = JSON.parse(String(msg.data)) as ServerMessage;
        } catch {
          return;
        }
        if ("events" in data) {
          for (const e of data.events) for (const l of listeners) l(e);
        } else if ("event" in data) {
          for (const l of listeners) l(data.event);
        } else if ("error" in data) {
          const p = data.id == null ? undefined : pending.get(data.id);
          if (p) {
            pending.delete(data.id as number);
            p.reject(new ServiceError(data.error));
          } else console.warn("service error", data.error);
        } else if ("id" in data) {
          const p = pending.get(data.id);
          if (p) {
            pending.delete(data.id);
            p.resolve(data.result);
          }
        }
      };
      let wasOpen = false;
      ws.addEventListener("open", () => (wasOpen = true));
      ws.onclose = () => {
        const err = new ServiceError({ message: "the connection to the service closed" });
        for (const p of pending.values()) p.reject(err);
        pending.clear();
        opened = null;
        socket = null;
        reject(err);
        if (wasOpen) {
          setState("closed");
          setTimeout(() => void connect().catch(() => {}), 2000);
          return;
        }
        // Refused before opening: a server that is down, or one that no longer takes this
        // page's token (a browser does not tell a WebSocket which). Ask the page's own URL:
        // 403 means the token is stale, and retrying cannot help.
        void fetch(location.href, { cache: "no-store" }).then(
          (r) => {
            if (r.status === 403) setState("forbidden");
            else {
              setState("closed");
              setTimeout(() => void connect().catch(() => {}), 2000);
            }
          },
          () => {
            setState("closed");
            setTimeout(() => void connect().catch(() => {}), 2000);
          },
        );
      };
    });
    return opened;
  }
  void connect().catch(() => {});

  return {
    async call(method, params) {
      const ws = socket && socket.readyState === WebSocket.OPEN ? socket : await connect();
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        ws.send(JSON.stringify({ id, method, params }));
      });
    },
    onEvent(cb) {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    onConnection(cb) {
      connListeners.add(cb);
      cb(state);
      return () => connListeners.delete(cb);
    },
  };
}

function socketUrl(): string {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}/api?batch=1`;
}

/** The token travels as a WebSocket subprotocol (never a cookie, never in the socket's URL). */
function socketProtocols(): string[] {
  const token = new URLSearchParams(location.search).get("token") ?? "";
  return ["bramble", `bramble-token.${token.replace(/[^0-9a-f]/g, "")}`];
}

export const api: Api = window.bramble ? bridgeApi(window.bramble) : socketApi(socketUrl(), socketProtocols());

/** The desktop-only parts of the bridge, when running in Electron. */
export const desktop = {
  pickDirectory: window.bramble?.pickDirectory ? () => window.bramble!.pickDirectory!() : null,
  onMenu: (cb: (m: MenuAction) => void): (() => void) => window.bramble?.onMenu?.(cb) ?? (() => {}),
};
