// Issue 14 point 3: a run view. Failures first; skipped (a dependency failed) apart from
// cancelled; keep-going as a toggle; running nodes with a timer and their last log line; after
// the run a timing chart with the critical path; ?run=ID opens it again after a reload.
import { describe, expect, it } from "vitest";
import { chooseFunction, fixture, node, open, screenshot, servedWithBrowser } from "./helpers.js";

const env = servedWithBrowser(fixture("studio"));

describe("the run view", () => {
  it("shows failures first, skipped apart from cancelled, running nodes with timers, and the critical path", async () => {
    const { page, context } = await open(env.browser, env.server.url);
    try {
      await node(page, "app").waitFor({ timeout: 30_000 });
      await chooseFunction(page, "pipeline", "after_wait");
      const run = page.getByTestId("run-view");

      // Without keep-going: bad fails; what needs it is skipped, the unrelated chain cancelled.
      await page.getByRole("button", { name: "Build", exact: true }).click();
      await page.locator('[data-testid="node-bad"][data-state="failed"]').waitFor({ timeout: 60_000 });
      await page.getByRole("tab", { name: "Run" }).click();
      await expect(run.getAttribute("data-status")).resolves.toBe("failed");
      await run.getByTestId("run-failed-bad").waitFor();
      await run.getByTestId("run-skipped-after_bad").waitFor();
      await run.getByTestId("run-cancelled-after_wait").waitFor();
      expect(await run.getByTestId("run-cancelled-after_bad").count()).toBe(0);
      // failures come first
      const sections = await run.locator("section").evaluateAll((els) => els.map((e) => e.getAttribute("data-testid")));
      expect(sections[0]).toBe("run-failed");
      expect(page.url()).toMatch(/[?&]run=[0-9a-f]{16}/);
      const firstRun = new URL(page.url()).searchParams.get("run")!;

      // With keep-going: the chain that does not need bad builds; while it runs, a timer and its last line.
      await page.getByLabel("Keep going").check();
      await page.getByRole("button", { name: "Build", exact: true }).click();
      const running = run.getByTestId("run-running-wait");
      await running.waitFor({ timeout: 30_000 });
      await running.getByText("waiting").waitFor({ timeout: 20_000 });
      await expect(running.getByTestId("run-timer").textContent()).resolves.toMatch(/\d/);
      await screenshot(page, "run-running");
      await page.locator('[data-testid="node-after_wait"][data-state="built"]').waitFor({ timeout: 60_000 });
      await expect(run.getAttribute("data-status")).resolves.toBe("failed");
      await run.getByTestId("run-failed-bad").waitFor();
      await run.getByTestId("run-skipped-after_bad").waitFor();
      expect(await run.getByTestId("run-cancelled").count()).toBe(0);
      // in the graph too: after_bad did not run, it is skipped, not failed
      await expect(node(page, "after_bad").getAttribute("data-skipped")).resolves.toBe("true");
      await expect(node(page, "after_bad").getByTestId("node-state").textContent()).resolves.toBe("skipped");
      // the timing chart: wait then after_wait set the run's length
      const timing = run.getByTestId("run-timing");
      await timing.waitFor();
      await expect(timing.getByTestId("timing-wait").getAttribute("data-critical")).resolves.toBe("true");
      await expect(timing.getByTestId("timing-after_wait").getAttribute("data-critical")).resolves.toBe("true");
      await expect(timing.getByTestId("timing-bad").getAttribute("data-critical")).resolves.toBeNull();
      await screenshot(page, "run-view");

      // ?run=ID survives a reload (an ended run comes back from the history).
      const id = new URL(page.url()).searchParams.get("run")!;
      await page.reload();
      await run.waitFor({ timeout: 30_000 });
      await expect(run.getAttribute("data-run")).resolves.toBe(id);
      await run.getByTestId("run-failed-bad").waitFor({ timeout: 20_000 });
      // skipped is in the history too (the scheduler records it), not worked out by the page
      await run.getByTestId("run-skipped-after_bad").waitFor({ timeout: 20_000 });
      await expect(run.getByTestId("run-timing").getByTestId("timing-wait").getAttribute("data-critical")).resolves.toBe("true");

      // History groups builds by run; an old run opens in the run view.
      await page.getByRole("tab", { name: "History" }).click();
      const group = page.getByTestId(`history-run-${firstRun}`);
      await group.waitFor({ timeout: 20_000 });
      await group.locator("tr", { hasText: "bad" }).first().waitFor();
      await screenshot(page, "history-by-run");
      await group.getByRole("button", { name: "Open run" }).click();
      await expect(run.getAttribute("data-run")).resolves.toBe(firstRun);
      await run.getByTestId("run-failed-bad").waitFor({ timeout: 20_000 });
      await run.getByTestId("run-cancelled-wait").waitFor();
      await run.getByTestId("run-skipped-after_bad").waitFor();
      expect(await run.getByTestId("run-cancelled-after_bad").count()).toBe(0);
    } finally {
      await context.close();
    }
  });
});
