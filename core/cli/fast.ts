// The verbs bin/bramble.mjs answers without loading the CLI bundle (dist/cli.mjs pulls in the
// service, the store, the DB and every backend): `--version` and `starlark`. Built as
// dist/fast.mjs; it imports the version and the Starlark interpreter, nothing else.
import { starlarkMain } from "../starlark/cli.js";
// (also for -recursion's worker thread, which loads this bundle: core/starlark/cli.ts runDeep)
export { starlarkMain };
import { VERSION } from "../version.js";
import { quietOnClosedPipe } from "./closed-pipe.js";

/** The exit code, or undefined when `args` (after `bramble`) is not a fast verb. */
export function fastMain(args: string[]): number | undefined {
  const fast = (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) || args[0] === "starlark";
  if (fast) quietOnClosedPipe(args);
  if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (args[0] === "starlark") return starlarkMain(args.slice(1));
  return undefined;
}
