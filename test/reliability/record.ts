// Every attack in the reliability suite appends one JSON line to test-results/reliability.jsonl:
// what was tried, how many times, and what held. scripts/reliability-report.mjs turns the
// latest line per attack into the table in docs/reliability.md.
import { appendFileSync, mkdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";

const repo = join(dirname(fileURLToPath(import.meta.url)), "../..");
export const RESULTS = join(repo, "test-results/reliability.jsonl");

export interface Attempt {
  /** the section of docs/reliability.md: crash, concurrency, sandbox, input, serve, app */
  area: string;
  /** what was tried, as a short phrase */
  attack: string;
  /** how many times it was tried */
  tries: number;
  /** true when every try was contained */
  held: boolean;
  /** what held (or what did not) */
  detail: string;
}

/** This file's run: the rows one test recorded in its latest run replace all it recorded before. */
const RUN = `${process.pid}-${Date.now()}`;

/**
 * Record an attack's outcome; call it just before the test's final assertions. The row names
 * the test that made it (file and title, from vitest), so docs/reliability.md can say which
 * test each attack is.
 */
export function record(a: Attempt): void {
  const { testPath, currentTestName } = expect.getState();
  const test = testPath && currentTestName ? `${relative(repo, testPath)} › ${currentTestName}` : undefined;
  mkdirSync(dirname(RESULTS), { recursive: true });
  appendFileSync(RESULTS, JSON.stringify({ ...a, test, run: RUN, at: new Date().toISOString() }) + "\n");
}
