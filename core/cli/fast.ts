// The verbs bin/bramble.mjs answers without loading the CLI bundle (dist/cli.mjs pulls in the
// service, the store, the DB and every backend): `--version` and `starlark`, and the Starlark
// server bin/bramble's client talks to (starlark-server.ts). Built as dist/fast.mjs and
// dist/fast.cjs; it imports the version and the Starlark interpreter, nothing else.
import { starlarkMain } from "../starlark/cli.js";
// (also for -recursion's worker thread, which loads this bundle: core/starlark/cli.ts runDeep)
export { starlarkMain };
import { VERSION } from "../version.js";
import { quietOnClosedPipe } from "./closed-pipe.js";
import { processOutputs } from "./fd-output.js";
import { serveStarlark, STARLARK_SERVER_VERB } from "./starlark-server.js";
// the server's worker thread loads this bundle and calls it
export { starlarkServerWorker } from "./starlark-server.js";

/** The exit code, or undefined when `args` (after `bramble`) is not a fast verb. */
export function fastMain(args: string[]): number | undefined {
  if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
    quietOnClosedPipe(args);
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (args[0] === "starlark") {
    const { out, err } = processOutputs();
    try {
      return starlarkMain(args.slice(1), out, err, true);
    } finally {
      out.flush();
    }
  }
  if (args[0] === STARLARK_SERVER_VERB && args.length === 2) {
    serveStarlark(args[1]!);
    return 0;
  }
  return undefined;
}
