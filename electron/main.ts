// Electron main: one window, a menu, and a relay. The service (engine, database, builds,
// evaluation) runs in a utility process (service-process.ts); main passes the renderer's
// requests to it and its events back, and never runs a build or an evaluation itself, so the
// window never waits on a project. The renderer is sandboxed behind the preload bridge.
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  Menu,
  net,
  protocol,
  shell,
  utilityProcess,
  type MenuItemConstructorOptions,
  type UtilityProcess,
} from "electron";
import { existsSync } from "node:fs";
import { dirname, join, normalize, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { EVENT_CHANNEL, INVOKE_CHANNEL, MENU_CHANNEL, PICK_DIRECTORY_CHANNEL } from "./channels.js";
import { serviceRelay, type FromService, type ToService } from "./service-link.js";
import { APP_ORIGIN, APP_SCHEME, ELECTRON_CSP, isAllowedNavigation, webPreferences } from "./window.js";

const here = dirname(fileURLToPath(import.meta.url));
const rendererDir = join(here, "..", "renderer");

protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);

/** Start the service process; it reads the project to open from the arguments main got. */
function startService(): { child: UtilityProcess; relay: ReturnType<typeof serviceRelay> } {
  // main's own arguments (the project to open) go in the environment: a utility process's
  // argv is laid out by Electron, not by us.
  const args = process.argv.slice(app.isPackaged ? 1 : 2);
  const child = utilityProcess.fork(join(here, "service.mjs"), [], {
    serviceName: "Bramble Studio service",
    stdio: "inherit",
    env: { ...process.env, BRAMBLE_APP_ARGS: JSON.stringify(args) },
  });
  const relay = serviceRelay({
    postMessage: (m: ToService) => child.postMessage(m),
    onMessage: (listener) => child.on("message", (m: FromService) => listener(m)),
  });
  child.on("exit", (code) => relay.lost(`the service process exited (code ${code}); restart Bramble Studio`));
  return { child, relay };
}

function serveRenderer(): void {
  protocol.handle(APP_SCHEME, async (request) => {
    const url = new URL(request.url);
    const rel = normalize(decodeURIComponent(url.pathname)).replace(/^([/\\])+/, "");
    let file = join(rendererDir, rel || "index.html");
    if (!file.startsWith(rendererDir + sep) || !existsSync(file)) file = join(rendererDir, "index.html");
    const response = await net.fetch(pathToFileURL(file).toString());
    const headers = new Headers(response.headers);
    headers.set("Content-Security-Policy", ELECTRON_CSP);
    return new Response(response.body, { status: response.status, headers });
  });
}

function buildMenu(win: BrowserWindow): void {
  const template: MenuItemConstructorOptions[] = [
    {
      label: "File",
      submenu: [
        {
          label: "Open Project…",
          accelerator: "CmdOrCtrl+O",
          click: async () => {
            const picked = await dialog.showOpenDialog(win, { properties: ["openDirectory"] });
            if (!picked.canceled && picked.filePaths[0]) win.webContents.send(MENU_CHANNEL, { action: "open-project", path: picked.filePaths[0] });
          },
        },
        { type: "separator" },
        { role: "quit" },
      ],
    },
    {
      label: "View",
      submenu: [
        { role: "reload" },
        { role: "toggleDevTools" },
        { type: "separator" },
        { role: "resetZoom" },
        { role: "zoomIn" },
        { role: "zoomOut" },
        { role: "togglefullscreen" },
      ],
    },
  ];
  Menu.setApplicationMenu(Menu.buildFromTemplate(template));
}

let service: ReturnType<typeof startService> | undefined;

app.on("web-contents-created", (_e, contents) => {
  contents.on("will-navigate", (event, url) => {
    if (!isAllowedNavigation(url)) event.preventDefault();
  });
  contents.setWindowOpenHandler(({ url }) => {
    if (url.startsWith("https://")) void shell.openExternal(url);
    return { action: "deny" };
  });
  contents.on("will-attach-webview", (event) => event.preventDefault());
});

app.whenReady().then(() => {
  service = startService();
  const { relay } = service;
  serveRenderer();
  const win = new BrowserWindow({
    width: 1400,
    height: 900,
    title: "Bramble Studio",
    webPreferences: webPreferences(join(here, "preload.cjs")),
  });
  ipcMain.handle(INVOKE_CHANNEL, (event, method: unknown, params: unknown) => {
    if (event.senderFrame?.url && !isAllowedNavigation(event.senderFrame.url)) {
      return { ok: false, error: { message: "IPC from a foreign frame is refused" } };
    }
    // Validated in the service process, by the same dispatch the WebSocket host uses.
    return relay.invoke(method, params);
  });
  ipcMain.handle(PICK_DIRECTORY_CHANNEL, async () => {
    const picked = await dialog.showOpenDialog(win, { properties: ["openDirectory"] });
    return picked.canceled ? null : (picked.filePaths[0] ?? null);
  });
  relay.onEvent((e) => {
    if (!win.isDestroyed()) win.webContents.send(EVENT_CHANNEL, e);
  });
  buildMenu(win);
  void win.loadURL(`${APP_ORIGIN}/index.html`);
});

app.on("window-all-closed", () => {
  // The service cancels its builds and closes its store; kill it if it does not go in time.
  const child = service?.child;
  service?.relay.quit();
  if (child) setTimeout(() => child.kill(), 5000).unref();
  app.quit();
});
