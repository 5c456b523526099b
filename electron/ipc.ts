// The IPC wiring, kept free of Electron so it is tested without it: every request goes
// through the same `dispatch` the WebSocket host uses, and comes back as an envelope
// (Electron would flatten a thrown error to its message and lose the field).
import { z } from "zod";
import { dispatch, toApiError, type ServiceHost } from "../core/api/service.js";
import type { IpcReply } from "./channels.js";

export * from "./channels.js";

const MethodName = z.string().min(1).max(64);

export function makeInvokeHandler(host: ServiceHost): (method: unknown, params: unknown) => Promise<IpcReply> {
  return async (method, params) => {
    try {
      const name = MethodName.parse(method);
      return { ok: true, result: await dispatch(host.service, name, params) };
    } catch (err) {
      if (err instanceof z.ZodError) return { ok: false, error: { message: "invalid method name", field: "method" } };
      return { ok: false, error: toApiError(err) };
    }
  };
}
