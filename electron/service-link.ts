// The link between Electron main and the service's utility process, kept free of Electron
// so both ends are tested with a plain MessageChannel. Main only relays: a renderer's
// request goes to the service process as {invoke}, the envelope comes back as {reply}, and
// build events are pushed as {event}. If the service process dies, every waiting request
// gets an error envelope instead of waiting for good.
import type { BuildEvent } from "../core/api/schema.js";
import type { IpcReply } from "./channels.js";

/** What main sends the service process. */
export type ToService = { type: "invoke"; id: number; method: unknown; params: unknown } | { type: "quit" };
/** What the service process sends main. */
export type FromService = { type: "reply"; id: number; reply: IpcReply } | { type: "event"; event: BuildEvent } | { type: "ready" };

/** The little of a message port both ends use (Electron's MessagePortMain, Node's MessagePort, a utility process). */
export interface Port<In, Out> {
  postMessage(message: Out): void;
  onMessage(listener: (message: In) => void): void;
}

/** Main's side: relay requests to the service process and its events to whoever listens. */
export function serviceRelay(port: Port<FromService, ToService>) {
  const pending = new Map<number, (reply: IpcReply) => void>();
  const listeners = new Set<(e: BuildEvent) => void>();
  let nextId = 1;
  let gone: string | undefined;
  // Requests made before the service process said it is ready wait here.
  let queued: ToService[] | null = [];
  port.onMessage((m) => {
    if (m.type === "ready") {
      for (const q of queued ?? []) port.postMessage(q);
      queued = null;
    } else if (m.type === "reply") {
      pending.get(m.id)?.(m.reply);
      pending.delete(m.id);
    } else if (m.type === "event") {
      for (const l of listeners) l(m.event);
    }
  });
  return {
    invoke(method: unknown, params: unknown): Promise<IpcReply> {
      if (gone) return Promise.resolve({ ok: false, error: { message: gone } });
      const id = nextId++;
      return new Promise((resolve) => {
        pending.set(id, resolve);
        const message: ToService = { type: "invoke", id, method, params };
        if (queued) queued.push(message);
        else port.postMessage(message);
      });
    },
    onEvent(listener: (e: BuildEvent) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    /** Ask the service process to cancel its builds, close the store and exit. */
    quit(): void {
      if (!gone && !queued) port.postMessage({ type: "quit" });
    },
    /** The service process is gone: answer every waiting request, and all later ones, with `why`. */
    lost(why: string): void {
      gone = why;
      for (const resolve of pending.values()) resolve({ ok: false, error: { message: why } });
      pending.clear();
    },
  };
}

/** The service process's side: answer requests with `invoke` and forward every event. */
export function serveOverPort(
  port: Port<ToService, FromService>,
  invoke: (method: unknown, params: unknown) => Promise<IpcReply>,
  onEvent: (listener: (e: BuildEvent) => void) => () => void,
  quit: () => void,
): () => void {
  port.onMessage((m) => {
    if (m.type === "quit") return quit();
    // Requests run concurrently: a long evaluation does not hold up the next request.
    void invoke(m.method, m.params).then((reply) => port.postMessage({ type: "reply", id: m.id, reply }));
  });
  const unsubscribe = onEvent((event) => port.postMessage({ type: "event", event }));
  port.postMessage({ type: "ready" });
  return unsubscribe;
}
