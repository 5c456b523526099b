// The bridge between the sandboxed renderer and main: four functions, nothing else of
// Node or Electron crosses. Must stay a CommonJS script (sandboxed preloads are).
import { contextBridge, ipcRenderer, type IpcRendererEvent } from "electron";
import type { BuildEvent } from "../core/api/schema.js";
import { EVENT_CHANNEL, INVOKE_CHANNEL, MENU_CHANNEL, PICK_DIRECTORY_CHANNEL, type IpcReply, type MenuAction } from "./channels.js";

contextBridge.exposeInMainWorld("bramble", {
  async invoke(method: string, params: unknown): Promise<unknown> {
    const reply = (await ipcRenderer.invoke(INVOKE_CHANNEL, method, params)) as IpcReply;
    if (reply.ok) return reply.result;
    throw { message: reply.error.message, field: reply.error.field, evalError: reply.error.evalError };
  },
  onEvent(cb: (e: BuildEvent) => void): () => void {
    const listener = (_e: IpcRendererEvent, event: BuildEvent) => cb(event);
    ipcRenderer.on(EVENT_CHANNEL, listener);
    return () => ipcRenderer.removeListener(EVENT_CHANNEL, listener);
  },
  onMenu(cb: (m: MenuAction) => void): () => void {
    const listener = (_e: IpcRendererEvent, m: MenuAction) => cb(m);
    ipcRenderer.on(MENU_CHANNEL, listener);
    return () => ipcRenderer.removeListener(MENU_CHANNEL, listener);
  },
  pickDirectory(): Promise<string | null> {
    return ipcRenderer.invoke(PICK_DIRECTORY_CHANNEL) as Promise<string | null>;
  },
});
