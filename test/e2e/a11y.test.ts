// Accessibility: axe-core over the main views reports no serious or critical violations.
// axe is injected as a script, which the page's CSP would block: this context bypasses it.
import { describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { join } from "node:path";
import { chooseFunction, fixture, node, open, repo, servedWithBrowser } from "./helpers.js";

const env = servedWithBrowser(fixture("studio"));

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

async function seriousViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: join(repo, "node_modules/axe-core/axe.min.js") });
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: AxeViolation[] }> } }).axe;
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) }));
  });
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map(
      (v) =>
        `${v.id} (${v.impact}): ${v.help} at ${v.nodes
          .slice(0, 3)
          .map((n) => n.target.join(" "))
          .join(", ")}`,
    );
}

describe("accessibility", () => {
  it("has no serious axe violations on the graph, node, retarget, history, failure and error views", async () => {
    const { page, context } = await open(env.browser, env.server.url, { bypassCSP: true });
    try {
      await node(page, "app").waitFor({ timeout: 30_000 });
      expect(await seriousViolations(page)).toEqual([]);
      await node(page, "app").click();
      await page.getByTestId("node-panel").waitFor();
      expect(await seriousViolations(page)).toEqual([]);
      await page.getByRole("tab", { name: "Retarget" }).click();
      expect(await seriousViolations(page)).toEqual([]);
      await page.getByRole("tab", { name: "History" }).click();
      await page.getByTestId("history-panel").waitFor();
      expect(await seriousViolations(page)).toEqual([]);
      // a failed build, its panel and its log
      await chooseFunction(page, "broken");
      await page.getByRole("button", { name: "Build", exact: true }).click();
      await page.locator('[data-testid="node-broken"][data-state="failed"]').waitFor();
      await node(page, "broken").click();
      await page.getByTestId("failure").waitFor();
      expect(await seriousViolations(page)).toEqual([]);
      // an evaluation error
      await chooseFunction(page, "bad_eval", null);
      await page.getByTestId("eval-error").waitFor();
      expect(await seriousViolations(page)).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("labels every control", async () => {
    const { page, context } = await open(env.browser, env.server.url);
    try {
      await node(page, "app").waitFor({ timeout: 30_000 });
      const unlabelled = await page.evaluate(() =>
        [...document.querySelectorAll("button, input, select, textarea")]
          .filter((el) => {
            const e = el as HTMLElement;
            if (e.closest("[aria-hidden='true']") || e.offsetParent === null) return false;
            const hasText = (e.textContent ?? "").trim().length > 0;
            const aria = e.getAttribute("aria-label") || e.getAttribute("aria-labelledby") || e.getAttribute("title");
            const label = (e as HTMLInputElement).labels?.length;
            return !hasText && !aria && !label;
          })
          .map((e) => e.outerHTML.slice(0, 120)),
      );
      expect(unlabelled).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
