// Each view of the app against `bramble serve` on the studio fixture: node panel, filters,
// retarget, failed builds, history and old logs, evaluation errors, log panel, keyboard.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { join } from "node:path";
import { chooseFunction, fixture, node, open, repo, screenshot, servedWithBrowser, type Opened } from "./helpers.js";

const env = servedWithBrowser(fixture("studio"));
let opened: Opened;
let page: Page;
beforeEach(async () => {
  opened = await open(env.browser, env.server.url);
  page = opened.page;
  await node(page, "app").waitFor({ timeout: 30_000 });
});
afterEach(async () => {
  await opened.context.close();
});

async function build() {
  await page.getByRole("button", { name: "Build", exact: true }).click();
}

describe("graph and node panel", () => {
  it("lays out the graph with badges and shows a selected node's derivation, with clickable dependencies", async () => {
    await node(page, "tool").waitFor();
    expect(await node(page, "app").getByTestId("builder-badge").textContent()).toBe("local");
    expect(await node(page, "app").getByTestId("cross-mark").count()).toBe(0);
    // The fixture borrows the host's /bin/sh (sandbox_paths, allowed by the tests' user config): impure, and shown so.
    expect(await node(page, "app").getByTestId("impure-badge").textContent()).toBe("impure");
    expect(await node(page, "app").getByTestId("impure-badge").getAttribute("title")).toBe("impure: sees the host paths /bin, /lib, /lib64, /usr");
    // a layered layout: the dependency sits left of its dependent
    const tool = (await node(page, "tool").boundingBox())!;
    const app = (await node(page, "app").boundingBox())!;
    expect(tool.x + tool.width).toBeLessThan(app.x);

    await node(page, "app").click();
    const panel = page.getByTestId("node-panel");
    await expect(panel.getByRole("heading", { level: 2 }).textContent()).resolves.toBe("app");
    await panel.getByText("Dependencies (1)").waitFor();
    await expect(node(page, "tool").getAttribute("class")).resolves.toContain("role-dep");
    await panel.getByRole("button", { name: "tool", exact: true }).click();
    await panel.getByRole("heading", { level: 2, name: "tool" }).waitFor();
    await expect(node(page, "app").getAttribute("class")).resolves.toContain("role-dependent");
    await screenshot(page, "node-panel");
  });

  it("filters nodes by name and by state", async () => {
    await page.getByLabel("Search nodes by name").fill("too");
    await expect(page.getByTestId("filter-count").textContent()).resolves.toBe("1 of 2");
    await expect(node(page, "app").getAttribute("class")).resolves.toContain("role-dim");
    await expect(node(page, "tool").getAttribute("class")).resolves.not.toContain("role-dim");
    await page.getByRole("button", { name: "Clear" }).click();
    await page.getByLabel("Filter by state").selectOption("failed");
    await expect(page.getByTestId("filter-count").textContent()).resolves.toBe("0 of 2");
  });

  it("offers zoom, fit and minimap controls", async () => {
    await page.getByRole("button", { name: /zoom in/i }).click();
    await page.getByRole("button", { name: /fit view/i }).click();
    expect(await page.locator(".react-flow__minimap").count()).toBe(1);
  });
});

describe("retarget", () => {
  it("shows what changes and what would rebuild before building, then builds for the target", async () => {
    await page.getByLabel("Target").fill("aarch64-linux");
    await page.getByLabel("Target").press("Enter");
    const summary = page.getByTestId("retarget-summary");
    await summary.waitFor({ timeout: 30_000 });
    await expect(summary.getByTestId("changed-count").textContent()).resolves.toBe("1");
    await page.locator('[data-testid="node-app"][data-changed="true"]').waitFor();
    await node(page, "app").getByTestId("cross-mark").waitFor();
    expect(await node(page, "app").getByTestId("system-badge").textContent()).toBe("aarch64-linux");
    expect(Number(await summary.getByTestId("rebuild-count").textContent())).toBeGreaterThanOrEqual(1);
    await screenshot(page, "retarget");
    await summary.getByRole("button", { name: "Build for aarch64-linux" }).click();
    await page.locator('[data-testid="node-app"][data-state="built"]').waitFor({ timeout: 30_000 });
    await page.getByTestId("log-view").getByText("building app for aarch64-linux").first().waitFor();
  });
});

describe("retarget to a system nothing here can build", () => {
  it("flags the nodes no backend can build, with the reason, before anything runs", async () => {
    await chooseFunction(page, "emulated");
    await node(page, "emulated").waitFor({ timeout: 30_000 });
    await page.getByLabel("Target").fill("x86_64-darwin");
    await page.getByLabel("Target").press("Enter");
    const blocked = page.getByTestId("retarget-blocked");
    await blocked.waitFor({ timeout: 30_000 });
    await expect(blocked.textContent()).resolves.toMatch(/no backend can build emulated/);
    await expect(blocked.textContent()).resolves.toContain("x86_64-darwin");
    await node(page, "emulated").getByText("no backend").waitFor();
    expect(await page.getByRole("button", { name: "Build for x86_64-darwin" }).isDisabled()).toBe(true);
    await screenshot(page, "retarget-blocked");
  });

  it("reports a system string no one knows", async () => {
    await page.getByLabel("Target").fill("mips64-linux");
    await page.getByLabel("Target").press("Enter");
    await page
      .getByTestId("eval-error")
      .getByText(/unknown architecture/)
      .waitFor({ timeout: 30_000 });
  });
});

describe("projects", () => {
  it("opens another project from the path field and remembers it", async () => {
    const hello = join(repo, "examples/hello");
    await page.getByLabel("Project", { exact: true }).fill(hello);
    await page.getByLabel("Project", { exact: true }).press("Enter");
    await node(page, "hello").waitFor({ timeout: 30_000 });
    await node(page, "greeting").waitFor();
    await expect(page.getByLabel("Function").inputValue()).resolves.toMatch(/:default$/);
    await page.locator(`#recent-projects option[value="${hello}"]`).waitFor({ state: "attached", timeout: 20_000 });
  });
});

describe("builds and logs", () => {
  it("streams logs with ANSI colours, searches and follows them", async () => {
    await build();
    await page.locator('[data-testid="node-app"][data-state="built"], [data-testid="node-app"][data-state="cached"]').waitFor({ timeout: 30_000 });
    const view = page.getByTestId("log-view");
    // cached from an earlier test is fine: then open the node's past build log instead
    if ((await node(page, "app").getAttribute("data-state")) === "built") {
      await view.getByText("coloured").first().waitFor();
      const colour = await view.locator("span[style*='color']", { hasText: "coloured" }).count();
      expect(colour).toBeGreaterThanOrEqual(1);
      await page.getByLabel("Search the log").fill("building app for");
      await page.getByText(/^1 of \d+ lines$/).waitFor({ timeout: 15_000 });
      // the search jumps to the match in context; "Only matches" filters to it
      await view.locator(".log-line[data-current=true]", { hasText: "building app for" }).waitFor();
      await page.getByLabel("Only matches").check();
      await expect(view.locator(".log-line").count()).resolves.toBe(1);
    }
    await expect(page.getByTestId("progress").textContent()).resolves.toMatch(/\d+\/\d+ done/);
  });

  it("makes a failed build stand out with its exit code, log tail and a one-click rebuild", async () => {
    await chooseFunction(page, "broken");
    await node(page, "broken").waitFor({ timeout: 30_000 });
    await build();
    await page.locator('[data-testid="node-broken"][data-state="failed"]').waitFor({ timeout: 30_000 });
    await expect(page.getByTestId("progress").getAttribute("data-status")).resolves.toBe("failed");
    await node(page, "broken").click();
    const failure = page.getByTestId("failure");
    await failure.waitFor();
    await expect(failure.getByTestId("exit-code").textContent()).resolves.toBe("3");
    await failure.getByTestId("log-tail").getByText("about to fail").waitFor();
    await failure.getByTestId("shell-command").waitFor();
    await screenshot(page, "failed-build");
    await failure.getByRole("button", { name: "Rebuild just this node" }).click();
    await page.locator('[data-testid="node-broken"][data-state="failed"]').waitFor({ timeout: 30_000 });
    await page.getByTestId("node-panel").getByTestId("build-table").locator("tr.build-failed").nth(1).waitFor({ timeout: 20_000 });
  });

  it("lists past builds in history and opens an old log", async () => {
    await build();
    await page.locator('[data-testid="node-tool"][data-state="built"], [data-testid="node-tool"][data-state="cached"]').waitFor({ timeout: 30_000 });
    await page.getByRole("tab", { name: "History" }).click();
    const history = page.getByTestId("history-panel");
    const row = history.locator("tr", { hasText: "tool" }).first();
    await row.waitFor({ timeout: 20_000 });
    await row.getByRole("button", { name: /Open log/ }).click();
    // the node panel lists the built output with its size
    await node(page, "tool").click();
    const outputs = page.getByTestId("node-panel").getByRole("region", { name: "Outputs" });
    await outputs.locator("code.path", { hasText: "-tool" }).waitFor({ timeout: 20_000 });
    await outputs
      .getByText(/\d+(\.\d)? (B|KiB)/)
      .first()
      .waitFor();
    await page.getByTestId("log-view").getByText("building the tool").first().waitFor({ timeout: 20_000 });
    await screenshot(page, "history");
  });
});

describe("errors and keyboard", () => {
  it("shows an evaluation error with its file, line and column", async () => {
    await chooseFunction(page, "bad_eval", null);
    const err = page.getByTestId("eval-error");
    await err.waitFor({ timeout: 30_000 });
    await expect(err.textContent()).resolves.toMatch(/bad\.bramble:\d+:\d+/);
    await expect(err.textContent()).resolves.toContain("no_such_name");
    // Clicking the place opens the file at that line.
    await page.getByTestId("eval-error-place").click();
    const source = page.getByTestId("source-view");
    await source.waitFor({ timeout: 15_000 });
    const current = source.locator("li[data-current=true]");
    await expect(current.textContent()).resolves.toContain("no_such_name");
    await screenshot(page, "eval-error-source");
    await page.keyboard.press("Escape");
    await source.waitFor({ state: "detached" });
  });

  it("reaches search, nodes and the build from the keyboard", async () => {
    await page.locator("body").click({ position: { x: 5, y: 500 } });
    await page.keyboard.press("/");
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe("node-search");
    await page.keyboard.type("tool");
    await page.keyboard.press("Enter");
    await page.getByTestId("node-panel").getByRole("heading", { level: 2, name: "tool" }).waitFor();
    // nodes are focusable; Enter on a focused node selects it
    await page.locator(".react-flow__node", { has: node(page, "app") }).focus();
    await page.keyboard.press("Enter");
    await page.getByTestId("node-panel").getByRole("heading", { level: 2, name: "app" }).waitFor();
    // walk to a dependency and back with Alt+arrows
    await page.locator("body").press("Alt+ArrowLeft");
    await page.getByTestId("node-panel").getByRole("heading", { level: 2, name: "tool" }).waitFor();
    await page.locator("body").press("Alt+ArrowRight");
    await page.getByTestId("node-panel").getByRole("heading", { level: 2, name: "app" }).waitFor();
    await page.keyboard.press("Control+Enter");
    await page.getByTestId("progress").locator("progress").waitFor({ timeout: 30_000 });
  });
});
