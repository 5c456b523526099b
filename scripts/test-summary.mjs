// Prints the one line CI reads, "N passed, N failed", from vitest's JSON report.
import { existsSync, readFileSync } from "node:fs";

const file = process.argv[2] ?? "test-results/vitest.json";
if (!existsSync(file)) {
  console.log("the test run wrote no report");
  console.log("0 passed, 1 failed");
  process.exit(1);
}
const report = JSON.parse(readFileSync(file, "utf8"));
// Checks .ci/run makes outside vitest (the pure builds of the examples) are counted too.
let passed = Number(process.env.PURE_PASSED ?? 0);
let failed = Number(process.env.PURE_FAILED ?? 0);
let skipped = 0;
for (const suite of report.testResults ?? []) {
  const results = suite.assertionResults ?? [];
  // A file that failed to load has no test results but did fail.
  if (results.length === 0 && suite.status === "failed") failed++;
  for (const t of results) {
    if (t.status === "passed") passed++;
    else if (t.status === "failed") failed++;
    else skipped++;
  }
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 ? 1 : 0);
