// A reader that goes away (`bramble log ID | head -1`) ends the command quietly, as a program
// killed by SIGPIPE would: no EPIPE stack trace. Exit code 0: the reader got what it asked for.
// Installed by both entry points: the CLI bundle (main.ts) and the fast verbs (fast.ts).
export function quietOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE") process.exit(0);
      throw err;
    });
  }
}
