// IPC channel names and message shapes shared by main and the preload. This file imports
// nothing: a sandboxed preload can require only `electron`.
import type { ApiError } from "../core/api/schema.js";

export const INVOKE_CHANNEL = "bramble:invoke";
export const EVENT_CHANNEL = "bramble:event";
export const MENU_CHANNEL = "bramble:menu";
export const PICK_DIRECTORY_CHANNEL = "bramble:pick-directory";

export type IpcReply = { ok: true; result: unknown } | { ok: false; error: ApiError };

/** What the menu asks the renderer to do. */
export type MenuAction = { action: "open-project"; path: string };
