// The walking skeleton in the browser: the hello graph with badges, a build streaming its
// log and turning both nodes "built", and the token guarding the env.server.
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { join } from "node:path";
import { node, open, repo, screenshot, servedWithBrowser } from "./helpers.js";

const env = servedWithBrowser(join(repo, "examples/hello"));

describe("bramble serve in Chromium", () => {
  it("shows both hello nodes with a builder badge and a system badge", async () => {
    const { page, context, errors } = await open(env.browser, env.server.url);
    try {
      for (const name of ["greeting", "hello"]) {
        const n = node(page, name);
        await n.waitFor({ timeout: 30_000 });
        await expect(n.getByTestId("builder-badge").textContent()).resolves.toMatch(/\S/);
        await expect(n.getByTestId("system-badge").textContent()).resolves.toMatch(/^[a-z0-9_]+-[a-z0-9]+$/);
        expect(await n.getAttribute("data-state")).toMatch(/^(not-built|cached|built)$/);
      }
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("builds from the page: a log line streams in and both nodes reach built", async () => {
    const { page, context, errors } = await open(env.browser, env.server.url);
    try {
      await node(page, "hello").waitFor({ timeout: 30_000 });
      await page.getByRole("button", { name: "Build", exact: true }).click();
      await page.getByTestId("log-view").getByText("writing the greeting").first().waitFor({ timeout: 30_000 });
      await page.locator('[data-testid="node-greeting"][data-state="built"]').waitFor({ timeout: 30_000 });
      await page.locator('[data-testid="node-hello"][data-state="built"]').waitFor({ timeout: 30_000 });
      await expect(page.getByTestId("progress").getAttribute("data-status")).resolves.toBe("built");
      await screenshot(page, "graph-built");
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("refuses a page request without the token", async () => {
    const res = await fetch(`${env.server.origin}/`);
    expect(res.status).toBe(403);
    const wrong = await fetch(`${env.server.origin}/?token=${"0".repeat(env.server.token.length)}`);
    expect(wrong.status).toBe(403);
  });

  it("refuses a WebSocket without the token", async () => {
    const ws = new WebSocket(`${env.server.origin.replace("http", "ws")}/api`);
    const outcome = await new Promise<string>((resolve) => {
      ws.on("open", () => resolve("open"));
      ws.on("unexpected-response", (_req, res) => resolve(`status ${res.statusCode}`));
      ws.on("error", (e) => resolve(`error ${e.message}`));
    });
    ws.terminate();
    expect(outcome).not.toBe("open");
  });
});
