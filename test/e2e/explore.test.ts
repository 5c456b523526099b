// Issue 14 point 2, the parts that landed: references shown by name, transitive dependencies
// and dependents with counts, focus mode (a node and its N-hop neighbourhood), why-depends.
import { describe, expect, it } from "vitest";
import { chooseFunction, fixture, node, open, screenshot, servedWithBrowser } from "./helpers.js";

const env = servedWithBrowser(fixture("studio"));

describe("exploring a graph", () => {
  it("names references, lists the transitive closure with counts, and focuses on a neighbourhood", async () => {
    const { page, context } = await open(env.browser, env.server.url);
    try {
      await node(page, "app").waitFor({ timeout: 30_000 });
      await chooseFunction(page, "pipeline", "after_wait");
      await node(page, "after_bad").click();
      const panel = page.getByTestId("node-panel");
      // env: {"bad": bad.out}, shown by name rather than as {{ hash:out }}
      await expect(panel.getByRole("table", { name: "Environment" }).locator("tr", { hasText: "bad" }).locator("td code").textContent()).resolves.toBe(
        "bad.out",
      );
      await expect(panel.getByTestId("all-deps").locator("summary").textContent()).resolves.toBe("All dependencies, transitively (2)");
      await panel.getByTestId("all-deps").locator("summary").click();
      await expect(panel.getByTestId("all-deps").locator("li").allTextContents()).resolves.toEqual(["bad", "first"]);
      await node(page, "first").click();
      await expect(panel.getByTestId("all-dependents").locator("summary").textContent()).resolves.toBe("All dependents, transitively (2)");

      // Focus on wait: only it and its neighbour stay.
      await node(page, "wait").click();
      await panel.getByRole("button", { name: "Focus" }).click();
      await page.getByTestId("focus-bar").waitFor();
      await node(page, "first").waitFor({ state: "hidden" });
      await expect(node(page, "wait").isVisible()).resolves.toBe(true);
      await expect(node(page, "after_wait").isVisible()).resolves.toBe(true);
      await expect(node(page, "bad").isVisible()).resolves.toBe(false);
      await screenshot(page, "focus-mode");
      await page.getByTestId("focus-bar").getByRole("button", { name: "Show all" }).click();
      await node(page, "first").waitFor();
    } finally {
      await context.close();
    }
  });

  it("shows closure size and added size, as nix-tree does", async () => {
    const { page, context } = await open(env.browser, env.server.url);
    try {
      await node(page, "app").waitFor({ timeout: 30_000 });
      await chooseFunction(page, "refs", "user");
      await page.getByRole("button", { name: "Build", exact: true }).click();
      await page.locator('[data-testid="node-user"][data-state="built"]').waitFor({ timeout: 60_000 });
      const panel = page.getByTestId("node-panel");
      const own = async (name: string) => {
        await node(page, name).click();
        await panel.getByRole("heading", { level: 2, name }).waitFor();
        return Number(await panel.getByRole("region", { name: "Outputs" }).locator("[data-bytes]").first().getAttribute("data-bytes"));
      };
      const lib = await own("lib");
      const user = await own("user");
      expect(lib).toBeGreaterThan(0);
      const closure = panel.getByTestId("closure-size");
      await closure.waitFor();
      // user's closure is its own output and lib's (its output names lib's path); it adds only its own
      await expect(closure.getAttribute("data-paths")).resolves.toBe("2");
      await expect(closure.getAttribute("data-size")).resolves.toBe(String(user + lib));
      await expect(closure.getAttribute("data-added")).resolves.toBe(String(user));
      await node(page, "lib").click();
      await expect(panel.getByTestId("closure-size").getAttribute("data-paths")).resolves.toBe("1");
      await expect(panel.getByTestId("closure-size").getAttribute("data-added")).resolves.toBe(String(lib));
      await node(page, "user").click();
      await screenshot(page, "closure-size");
    } finally {
      await context.close();
    }
  });

  it("highlights every path of a why-depends", async () => {
    const { page, context } = await open(env.browser, env.server.url);
    try {
      await node(page, "app").waitFor({ timeout: 30_000 });
      await chooseFunction(page, "diamond", "tip");
      await node(page, "tip").click();
      await page.getByLabel("Why depends on").selectOption({ label: "base" });
      await expect(page.getByTestId("why-result").textContent()).resolves.toBe(" 2 paths through 5 nodes, highlighted");
      for (const n of ["top", "left", "right", "base"]) await expect(node(page, n).getAttribute("class")).resolves.toContain("role-path");
      await expect(node(page, "other").getAttribute("class")).resolves.toContain("role-dim");
      await screenshot(page, "why-depends");
    } finally {
      await context.close();
    }
  });
});
