// Issue 14 point 4: logs you can trust. stdout and stderr in the order written, in the app
// and in `bramble log`; line numbers; search that jumps to the line with its neighbours in
// view; ANSI colours rendered in the log and in the failure box.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { chooseFunction, fixture, node, open, repo, screenshot, servedWithBrowser } from "./helpers.js";

const env = servedWithBrowser(fixture("studio"));

// What the fixture's `interleaved` writes first: a line to stdout, a line to stderr, in turn.
const INTERLEAVED = ["out 1", "err 1", "out 2", "err 2", "out 3", "err 3", "out 4", "err 4", "out 5", "err 5"];

describe("logs you can trust", () => {
  it("keeps stdout and stderr in order, numbers lines, jumps to a match in context and renders colours in the failure box", async () => {
    const { page, context } = await open(env.browser, env.server.url);
    try {
      await node(page, "app").waitFor({ timeout: 30_000 });
      await chooseFunction(page, "interleaved");
      await page.getByRole("button", { name: "Build", exact: true }).click();
      await page.locator('[data-testid="node-interleaved"][data-state="failed"]').waitFor({ timeout: 60_000 });
      await node(page, "interleaved").click();

      // The failure box: the log tail's colour is rendered, no escape codes left.
      const tail = page.getByTestId("failure").getByTestId("log-tail");
      const red = tail.locator("span[style*='color']", { hasText: "red failure" });
      await red.waitFor();
      expect(await red.getAttribute("style")).toContain("color:rgb(187,0,0)");
      expect(await tail.textContent()).not.toMatch(/\u001b|\[31m/);

      // The node's log, numbered, in the order written.
      await page.getByRole("button", { name: "Show live log" }).click();
      const view = page.getByTestId("log-view");
      await page.getByText("211 lines", { exact: true }).waitFor({ timeout: 20_000 });
      await page.getByLabel("Follow").uncheck();
      await view.evaluate((el) => (el.scrollTop = 0));
      for (let i = 0; i < INTERLEAVED.length; i++) {
        const line = view.locator(`.log-line[data-line="${i + 1}"]`);
        await expect(line.locator(".log-num").textContent()).resolves.toBe(String(i + 1));
        await expect(line.textContent()).resolves.toBe(`${i + 1}${INTERLEAVED[i]}`);
      }

      // Search: jump to the match, with the lines around it shown too.
      await page.getByLabel("Search the log").fill("filler 150");
      await expect(page.getByTestId("log-match").textContent()).resolves.toBe("match 1 of 1, line 160");
      const current = view.locator(".log-line[data-current=true]");
      await expect(current.textContent()).resolves.toBe("160filler 150");
      await expect(current.isVisible()).resolves.toBe(true);
      await expect(view.locator('.log-line[data-line="155"]').isVisible()).resolves.toBe(true);
      await expect(view.locator('.log-line[data-line="165"]').isVisible()).resolves.toBe(true);
      // Enter steps through several matches
      await page.getByLabel("Search the log").fill("err ");
      await expect(page.getByTestId("log-match").textContent()).resolves.toBe("match 1 of 5, line 2");
      await page.getByLabel("Search the log").press("Enter");
      await expect(page.getByTestId("log-match").textContent()).resolves.toBe("match 2 of 5, line 4");
      await page.getByLabel("Search the log").fill("red failure");
      await view.locator(".log-line[data-current=true] span[style*='color']", { hasText: "red failure" }).waitFor();
      await screenshot(page, "log-order-search");
    } finally {
      await context.close();
    }

    // `bramble log` prints the same lines in the same order.
    const r = spawnSync(process.execPath, [join(repo, "bin/bramble.mjs"), "log", "interleaved"], {
      env: { ...process.env, BRAMBLE_PATH: env.server.home, NO_COLOR: "1" },
      encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines.slice(0, 10)).toEqual(INTERLEAVED);
    expect(lines[159]).toBe("filler 150");
    expect(lines[210]).toBe("\u001b[31mred failure\u001b[0m");
  });
});
