// A reader that goes away (`bramble log ID | head -1`) must not turn into an EPIPE stack trace.
// Installed by both entry points: the CLI bundle (main.ts) and the fast verbs (fast.ts).
//
// What happens next depends on the verb. A verb whose job is to print ends quietly at once, with
// the exit code it has so far (0 unless something already failed): the reader got what it asked
// for. A verb that does work (a build, a test run, gc, a store copy) must not stop half way nor
// report success it has not had: it goes on with its output dropped and ends with its own exit
// code, so `bramble build … | head -1` under `set -o pipefail` still fails when the build does,
// and the run is recorded as it ended.
const WORKING_VERBS = new Set(["build", "test", "run", "shell", "serve", "gc", "store", "allow-paths", "repl"]);

/** `args` are the command line after `bramble`. */
export function quietOnClosedPipe(args: readonly string[]): void {
  const verb = args.find((a) => !a.startsWith("-"));
  const keepWorking = verb !== undefined && WORKING_VERBS.has(verb);
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE") throw err;
      if (!keepWorking) endQuietly();
      // Nobody reads this stream any more: what is still written to it is dropped.
      stream.write = ((_chunk: unknown, encOrCb?: unknown, cb?: unknown) => {
        const done = typeof encOrCb === "function" ? encOrCb : cb;
        if (typeof done === "function") queueMicrotask(() => (done as () => void)());
        return true;
      }) as typeof stream.write;
    });
  }
}

/** A printing verb whose reader went away ends now, with the exit code it has so far (0 unless something failed). */
export function endQuietly(): never {
  process.exit(typeof process.exitCode === "number" ? process.exitCode : 0);
}
