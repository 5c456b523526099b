// What the sandbox and hermetic suites' probing builders share: a shell helper that tries a
// command and writes whether it worked, and the reader of what it wrote.

/** A shell helper for a builder's script: `try 'cmd' label` appends "label: ok" or "label: denied" to $out/report. */
export const TRY = `mkdir -p $out; try() { if sh -c "$1" >/dev/null 2>&1; then echo "$2: ok" >> $out/report; else echo "$2: denied" >> $out/report; fi; }`;

/** "label: value" lines (a probe's report) as an object. */
export function lines(report: string): Record<string, string> {
  return Object.fromEntries(
    report
      .trim()
      .split("\n")
      .map((l) => l.split(": ") as [string, string]),
  );
}
