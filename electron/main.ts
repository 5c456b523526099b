// Electron main: one service instance, one window, a menu. All privileged work happens
// here, behind the preload bridge; the renderer is sandboxed.
import { app, BrowserWindow, dialog, ipcMain, Menu, net, protocol, shell, type MenuItemConstructorOptions } from "electron";
import { existsSync } from "node:fs";
import { dirname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createService, firstModuleArg, moduleInfos, type ServiceHost } from "../core/api/service.js";
import { loadProject } from "../core/project/project.js";
import { EVENT_CHANNEL, INVOKE_CHANNEL, MENU_CHANNEL, PICK_DIRECTORY_CHANNEL, makeInvokeHandler } from "./ipc.js";
import { APP_ORIGIN, APP_SCHEME, ELECTRON_CSP, isAllowedNavigation, webPreferences } from "./window.js";

const here = dirname(fileURLToPath(import.meta.url));
const rendererDir = join(here, "..", "renderer");

protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);

function defaultProject(): { project?: string; moduleArg?: string } {
  const arg = process.argv.slice(app.isPackaged ? 1 : 2).find((a) => !a.startsWith("-"));
  const candidate = arg ? resolve(arg) : join(here, "..", "..", "examples", "hello");
  try {
    const project = loadProject(candidate);
    return { project: project.root, moduleArg: firstModuleArg(moduleInfos(project)) ?? undefined };
  } catch {
    return {};
  }
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
      submenu: [{ role: "reload" }, { role: "toggleDevTools" }, { type: "separator" }, { role: "resetZoom" }, { role: "zoomIn" }, { role: "zoomOut" }, { role: "togglefullscreen" }],
    },
  ];
  Menu.setApplicationMenu(Menu.buildFromTemplate(template));
}

let host: ServiceHost | undefined;

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
  const { project, moduleArg } = defaultProject();
  host = createService({ defaultProject: project, defaultModuleArg: moduleArg });
  serveRenderer();
  const win = new BrowserWindow({
    width: 1400,
    height: 900,
    title: "Bramble Studio",
    webPreferences: webPreferences(join(here, "preload.cjs")),
  });
  const invoke = makeInvokeHandler(host);
  ipcMain.handle(INVOKE_CHANNEL, (event, method: unknown, params: unknown) => {
    if (event.senderFrame?.url && !isAllowedNavigation(event.senderFrame.url)) {
      return { ok: false, error: { message: "IPC from a foreign frame is refused" } };
    }
    return invoke(method, params);
  });
  ipcMain.handle(PICK_DIRECTORY_CHANNEL, async () => {
    const picked = await dialog.showOpenDialog(win, { properties: ["openDirectory"] });
    return picked.canceled ? null : (picked.filePaths[0] ?? null);
  });
  host.onEvent((e) => {
    if (!win.isDestroyed()) win.webContents.send(EVENT_CHANNEL, e);
  });
  buildMenu(win);
  void win.loadURL(`${APP_ORIGIN}/index.html`);
});

app.on("window-all-closed", () => {
  host?.close();
  app.quit();
});
