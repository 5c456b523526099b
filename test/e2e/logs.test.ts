// Big and long builds: a 100,000-line log stays responsive; a running build can be cancelled.
import { describe, expect, it } from "vitest";
import { chooseFunction, fixture, node, open, servedWithBrowser } from "./helpers.js";

const env = servedWithBrowser(fixture("studio"));

describe("logs and cancel", () => {
  it("streams a 100,000-line log and stays responsive (virtualized)", async () => {
    const { page, context } = await open(env.browser, env.server.url);
    try {
      await node(page, "app").waitFor({ timeout: 30_000 });
      await chooseFunction(page, "chatty");
      await page.getByRole("button", { name: "Build", exact: true }).click();
      await page.locator('[data-testid="node-chatty"][data-state="built"]').waitFor({ timeout: 60_000 });
      await page.getByLabel("Log", { exact: true }).selectOption({ label: "chatty" });
      await page.getByText("100000 lines", { exact: true }).waitFor({ timeout: 20_000 });
      const view = page.getByTestId("log-view");
      // only a window of lines is in the DOM
      expect(await view.locator(".log-line").count()).toBeLessThan(200);
      await view.getByText("line 100000", { exact: true }).waitFor();
      // jump to the top and back: the virtual list keeps a window of rows, not 100,000
      const rows = await page.evaluate(async () => {
        const el = document.querySelector('[data-testid="log-view"]')!;
        el.scrollTop = 0;
        await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        el.scrollTop = el.scrollHeight / 2;
        await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        return el.querySelectorAll(".log-line").length;
      });
      expect(rows).toBeGreaterThan(0);
      expect(rows).toBeLessThan(200);
      await page.getByLabel("Search the log").fill("line 99999");
      await page.getByText("1 of 100000 lines", { exact: true }).waitFor({ timeout: 20_000 });
    } finally {
      await context.close();
    }
  });

  it("cancels a running build", async () => {
    const { page, context } = await open(env.browser, env.server.url);
    try {
      await node(page, "app").waitFor({ timeout: 30_000 });
      await chooseFunction(page, "slow");
      await page.getByRole("button", { name: "Build", exact: true }).click();
      await page.locator('[data-testid="node-slow"][data-state="building"]').waitFor({ timeout: 20_000 });
      await page.getByRole("button", { name: "Cancel" }).click();
      await page.locator('[data-testid="node-slow"][data-state="cancelled"], [data-testid="node-slow"][data-state="failed"]').waitFor({ timeout: 20_000 });
      await expect(page.getByTestId("progress").getAttribute("data-status")).resolves.toBe("cancelled");
    } finally {
      await context.close();
    }
  });
});
