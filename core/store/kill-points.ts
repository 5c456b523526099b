// Crash testing: BRAMBLE_KILL_AT="<point>:<n>" makes this process SIGKILL itself the n-th
// time (1-based) it reaches that point, so a test can crash a build at an exact moment
// instead of guessing with timers. Points: evaluate, sandbox-start, hash, rename, db-write.
// Unset (always, outside tests), a point costs one property read.
const spec = process.env.BRAMBLE_KILL_AT;
const [wanted, nth] = spec ? [spec.split(":")[0], Number(spec.split(":")[1] ?? "1")] : [undefined, 0];
let seen = 0;

export function killPoint(point: "evaluate" | "sandbox-start" | "hash" | "rename" | "db-write"): void {
  if (wanted !== point) return;
  if (++seen === nth) process.kill(process.pid, "SIGKILL");
}
