// An evaluation that never ends does not freeze the app: the page says it is evaluating,
// offers Cancel, and after Cancel shows where the evaluation stopped.
import { describe, expect, it } from "vitest";
import { fixture, launch, open, serve } from "./helpers.js";

describe("cancelling an evaluation from the app", () => {
  it("stops `while True` at its line (or its def, if it had not started) and shows the error", async () => {
    const [server, browser] = await Promise.all([serve(fixture("endless"), { env: { BRAMBLE_EVAL_TIMEOUT: "600" } }), launch()]);
    try {
      const { page, context, errors } = await open(browser, server.url);
      try {
        const cancel = page.getByTestId("cancel-evaluation");
        await cancel.waitFor();
        await cancel.click();
        await cancel.waitFor({ state: "detached" });
        const text = await page.locator("body").textContent();
        expect(text).toMatch(/evaluation cancelled/);
        await expect(page.getByTestId("eval-error-place").textContent()).resolves.toMatch(/endless\/default\.bramble:[245]:\d+$/);
        expect(errors).toEqual([]);
      } finally {
        await context.close();
      }
    } finally {
      await browser.close();
      await server.stop();
    }
  });
});
