// Runs Starlark test files in the style of starlark-go's testdata, with the test module of
// `bramble starlark -test` (core/starlark/assert.ts): chunks separated by "---" lines; a
// chunk containing `### "regexp"` must fail with a matching error, any other chunk must run
// without error or assertion failure. `# option:NAME` lines enable dialect options.
// Files are run with bramble's dialect (while loops and top-level if/for on).
import { readFileSync } from "node:fs";
import { fileOptions, runChunks } from "../../core/starlark/assert.js";
import { BRAMBLE_DIALECT, json, math } from "../../core/starlark/index.js";

export interface ChunkResult {
  file: string;
  line: number;
  ok: boolean;
  message: string;
}

/** Run every chunk of a test file; each result says whether it behaved as expected. */
export function runStarFile(path: string, name = path.split("/").pop()!): ChunkResult[] {
  const src = readFileSync(path, "utf8");
  const dialect = fileOptions(src, BRAMBLE_DIALECT);
  return runChunks(
    name,
    src,
    new Map([
      ["json", json],
      ["math", math],
    ]),
    { dialect },
  ).map((r) => ({ file: name, ...r }));
}
