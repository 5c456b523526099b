// The Electron app: navigation away from the app and new windows are blocked. The rules in
// electron/window.ts are tried against hostile URLs, and electron/main.ts's web-contents
// handlers are run against a stand-in for Electron (its module is mocked: no binary here).
import { EventEmitter } from "node:events";
import { describe, expect, it, vi } from "vitest";
import { isAllowedNavigation, webPreferences } from "../../electron/window.js";
import { record } from "./record.js";

const appHandlers = new Map<string, (...args: unknown[]) => void>();
const opened: string[] = [];
const ipcHandlers = new Map<string, (...args: unknown[]) => unknown>();

vi.mock("electron", () => {
  const noop = () => {};
  return {
    app: {
      on: (name: string, fn: (...args: unknown[]) => void) => appHandlers.set(name, fn),
      whenReady: () => new Promise(noop),
      isPackaged: false,
      quit: noop,
    },
    BrowserWindow: class {},
    dialog: {},
    ipcMain: { handle: (ch: string, fn: (...args: unknown[]) => unknown) => ipcHandlers.set(ch, fn) },
    Menu: { setApplicationMenu: noop, buildFromTemplate: () => ({}) },
    net: { fetch: noop },
    protocol: { registerSchemesAsPrivileged: noop, handle: noop },
    shell: { openExternal: (url: string) => opened.push(url) },
  };
});

const HOSTILE = [
  "https://evil.example/",
  "http://127.0.0.1:8080/",
  "file:///etc/passwd",
  "javascript:alert(1)",
  "data:text/html,<script>alert(1)</script>",
  "about:blank",
  "bramble-app://app.evil.example/",
  "bramble-app://appx/",
  "bramble-app://evil@app.example/",
  "bramble-app:app/index.html",
  "BRAMBLE-APP://APP.evil/",
  "bramble-app://app%2e.evil/",
  "chrome://settings",
  "devtools://devtools/bundled/inspector.html",
  "",
  "not a url",
];
const OWN = ["bramble-app://app/", "bramble-app://app/index.html", "bramble-app://app/assets/x.js?y=1#z"];

describe("Electron window rules", () => {
  it("isAllowedNavigation refuses every URL outside the app and accepts its own pages", () => {
    const allowed = HOSTILE.filter((u) => isAllowedNavigation(u));
    const own = OWN.filter((u) => isAllowedNavigation(u));
    const prefs = webPreferences("/x/preload.cjs");
    const safePrefs = prefs.contextIsolation && !prefs.nodeIntegration && prefs.sandbox && prefs.webSecurity && !prefs.webviewTag;
    record({
      area: "app",
      attack: "navigation to hostile URLs (other origins, file:, javascript:, data:, look-alike app hosts)",
      tries: HOSTILE.length,
      held: allowed.length === 0 && own.length === OWN.length && safePrefs,
      detail: `all ${HOSTILE.length} refused by isAllowedNavigation, the app's own ${OWN.length} allowed; contextIsolation, sandbox, no nodeIntegration, no webview`,
    });
    expect(allowed).toEqual([]);
    expect(own).toEqual(OWN);
    expect(safePrefs).toBe(true);
  });

  it("main.ts's web-contents handlers block navigation away, new windows and webviews", async () => {
    await import("../../electron/main.js");
    const created = appHandlers.get("web-contents-created");
    expect(created).toBeDefined();
    const contents = Object.assign(new EventEmitter(), {
      windowOpen: undefined as undefined | ((d: { url: string }) => { action: string }),
      setWindowOpenHandler(fn: (d: { url: string }) => { action: string }) {
        this.windowOpen = fn;
      },
    });
    created!({}, contents);
    const navigate = (url: string) => {
      let prevented = false;
      contents.emit("will-navigate", { preventDefault: () => (prevented = true) }, url);
      return prevented;
    };
    const navBlocked = HOSTILE.filter((u) => navigate(u)).length;
    const ownBlocked = OWN.filter((u) => navigate(u)).length;
    const windows = [...HOSTILE, ...OWN].map((url) => contents.windowOpen!({ url }).action);
    let webview = false;
    contents.emit("will-attach-webview", { preventDefault: () => (webview = true) });
    const held =
      navBlocked === HOSTILE.length && ownBlocked === 0 && windows.every((a) => a === "deny") && webview && opened.every((u) => u.startsWith("https://"));
    record({
      area: "app",
      attack: "will-navigate, window.open and <webview> through main.ts's web-contents handlers",
      tries: HOSTILE.length + windows.length + 1,
      held,
      detail: `${navBlocked}/${HOSTILE.length} navigations prevented, ${windows.length}/${windows.length} new windows denied (https links go to the system browser only: ${opened.length}), webviews prevented`,
    });
    expect(navBlocked).toBe(HOSTILE.length);
    expect(ownBlocked).toBe(0);
    expect(windows.every((a) => a === "deny")).toBe(true);
    expect(webview).toBe(true);
    expect(opened.every((u) => u.startsWith("https://"))).toBe(true);
  });
});
