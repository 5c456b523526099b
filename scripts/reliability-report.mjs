// Turns the reliability suite's own output (test-results/reliability.jsonl, one JSON line per
// attack per run, appended by test/reliability/*.test.ts and `npm run bench -- serve`) into
// docs/reliability.md: the latest result of each attack, grouped by area.
//
//   npx vitest run test/reliability test/serve/server.test.ts test/serve/isolation.test.ts && npm run bench -- serve && node scripts/reliability-report.mjs
//
// `--check` exits 1 when an attack in the latest results did not hold.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const input = join(root, "test-results/reliability.jsonl");
const output = join(root, "docs/reliability.md");

if (!existsSync(input)) {
  console.error(`${input} is missing: run the suite first (npx vitest run test/reliability)`);
  process.exit(2);
}

// A row that names its test (test/reliability/record.ts) belongs to that test's latest run: what
// the test recorded then replaces all it recorded before, so an attack it no longer makes (or
// makes under a new description) leaves no stale row. Rows without a test (the serve bench, older
// lines) are the latest per attack, unless a named test has recorded that attack since.
const all = [];
for (const line of readFileSync(input, "utf8").split("\n")) {
  if (!line.trim()) continue;
  try {
    all.push(JSON.parse(line));
  } catch {
    /* a torn line */
  }
}
const lastRun = new Map();
for (const r of all) if (r.test && (!lastRun.has(r.test) || lastRun.get(r.test).at <= r.at)) lastRun.set(r.test, { run: r.run, at: r.at });
const named = new Set(all.filter((r) => r.test && lastRun.get(r.test).run === r.run).map((r) => `${r.area}\u0000${r.attack}`));
const latest = new Map();
for (const r of all) {
  if (r.test ? lastRun.get(r.test).run !== r.run : named.has(`${r.area}\u0000${r.attack}`)) continue;
  const key = `${r.area}\u0000${r.attack}\u0000${r.test ?? ""}`;
  const prev = latest.get(key);
  if (!prev || prev.at <= r.at) latest.set(key, r);
}

const AREAS = [
  ["crash", "Crash safety", "`bramble build` killed with SIGKILL, and a torn database WAL (test/reliability/crash.test.ts)."],
  ["concurrency", "Concurrency", "Several `bramble build` processes on one store (test/reliability/concurrency.test.ts)."],
  ["sandbox", "Sandbox escapes", "Builders that try to get out of bubblewrap (test/reliability/sandbox.test.ts)."],
  [
    "hermetic",
    "Hermetic builds",
    "Nothing of the host gets in, nothing gets out: issue 12's attacks on links, fetchers, host paths, file descriptors, lingering writers and modes (test/reliability/hermetic.test.ts).",
  ],
  ["input", "Bad input", "Broken, huge or hostile project files and fetched archives (test/reliability/bad-input.test.ts)."],
  [
    "serve",
    "`bramble serve`",
    "The WebSocket host, run as a separate process (test/reliability/serve.test.ts, test/serve/server.test.ts and isolation.test.ts).",
  ],
  ["app", "The Electron app", "Navigation and window rules, without an Electron binary (test/reliability/electron.test.ts)."],
  ["load", "Load", "`npm run bench -- serve` (bench/serve/index.ts)."],
];

const cell = (s) => String(s).replace(/\|/g, "\\|").replace(/\n/g, " ");
const rows = [...latest.values()];
const known = new Set(AREAS.map(([a]) => a));
for (const r of rows) if (!known.has(r.area)) AREAS.push([r.area, r.area, ""]);

let md = `# Reliability and security

What the reliability suite (\`test/reliability/\`, part of \`npm test\`) and the serve benchmark
attack, how many times each attack was tried, and what held. **This page is generated** by
\`node scripts/reliability-report.mjs\` from the suite's own output
(\`test-results/reliability.jsonl\`); do not edit it by hand. Each test records its outcome
just before asserting it, so a row that says "no" is also a failing test. To regenerate:

\`\`\`sh
rm -f test-results/reliability.jsonl
npx vitest run test/reliability test/serve/server.test.ts test/serve/isolation.test.ts
npm run bench -- serve && node scripts/reliability-report.mjs
\`\`\`

`;
const total = rows.reduce((a, r) => a + r.tries, 0);
const held = rows.filter((r) => r.held).length;
const times = rows.map((r) => r.at).sort();
md += `Latest run: ${times[0]?.slice(0, 16).replace("T", " ")} to ${times.at(-1)?.slice(0, 16).replace("T", " ")} UTC. **${rows.length} attacks, ${total.toLocaleString("en")} tries, ${held} of ${rows.length} held.**\n\n`;

for (const [area, title, blurb] of AREAS) {
  const mine = rows.filter((r) => r.area === area);
  if (!mine.length) continue;
  md += `## ${title}\n\n${blurb}\n\n| attack or fault | tries | held | what held | test |\n| --- | ---: | :---: | --- | --- |\n`;
  const test = (r) => (r.test ? cell(r.test.replace(/^test\/reliability\//, "")) : "");
  for (const r of mine) md += `| ${cell(r.attack)} | ${r.tries.toLocaleString("en")} | ${r.held ? "yes" : "**no**"} | ${cell(r.detail)} | ${test(r)} |\n`;
  md += "\n";
}

// Issue 12's list of attacks, in its words, and the rows (by the start of their attack) that
// test each. --check also fails when one of them has no row.
const ISSUE_12 = [
  [
    "a build gets its compiler from the host through sandbox_paths, which no hash names",
    ["a host compiler (an allowed sandbox path)", "a project's bramble.toml putting"],
  ],
  [
    "the examples run the host's /bin/sh and /usr; an aarch64-linux step runs a host x86_64 shell",
    ["the examples (hello, cross, go)", 'a "platform aarch64-linux" step'],
  ],
  ["an output that is a symlink to / becomes a bind of the host's root in a dependent build", ["an output that is a symlink to /"]],
  ["a source that is a symlink to a directory outside the project is copied in", ["a source named through a symlinked directory"]],
  [
    "fetch_url(file:///etc/shadow); fetchers run outside the sandbox; a fetch_git ref read as an option",
    ['fetch_url("file:///etc/shadow")', "a fetcher reading", "a fetcher connecting", "fetch_url of a host service", "fetch_git with --upload-pack"],
  ],
  ["a project's bramble.toml puts /root, /etc or /run into every sandbox", ["a project's bramble.toml putting"]],
  [
    "fixed-output builds passing a file descriptor; a write after registration; setuid and world-writable files in the store, and store verify calling it intact",
    [
      "two fixed-output builds passing",
      "a networked (fixed-output) build connecting",
      "a daemonized writer",
      "a hard link to an input",
      "setuid, setgid, sticky and world-writable",
      "another local user (nobody)",
    ],
  ],
  ["only the first output of a multi-output fixed-output derivation is hash-checked", ["a multi-output fixed-output derivation"]],
  ["--keep-failed leaves a setuid file for another local user", ["--keep-failed with a setuid-root shell"]],
  ["the docker backend mounts its whole store volume read-write into every build", ["a docker build writing into its input"]],
];
let unmapped = 0;
md += `## Issue 12's attacks, one by one\n\nEach attack of issue 12's list and the rows above that try it (test/reliability/hermetic.test.ts and docker-store.test.ts).\n\n| the issue's attack | rows (tries, held) |\n| --- | --- |\n`;
for (const [attack, starts] of ISSUE_12) {
  const found = starts.map((p) => [p, rows.find((r) => r.attack.startsWith(p))]);
  unmapped += found.filter(([, r]) => !r).length;
  md += `| ${cell(attack)} | ${found.map(([p, r]) => (r ? `${cell(r.attack.slice(0, 60))}… (${r.tries}, ${r.held ? "yes" : "**no**"})` : `**no row: ${cell(p)}…**`)).join("; ")} |\n`;
}
md += "\n";

md += `## Limits found and how they are handled

- **Fork bombs**: \`RLIMIT_NPROC\` does not bind root (bramble here runs as root, and bubblewrap's
  user namespace maps to it), so each local build runs in its own pids cgroup
  (\`BRAMBLE_SANDBOX_PIDS\`, default 4096) when the machine lets bramble create one (cgroup v1 pids
  controller, or a writable cgroup v2 with pids). Without cgroups there is no process limit.
- **Filling the disk**: the sandbox's \`/tmp\` is a tmpfs capped at \`BRAMBLE_SANDBOX_TMP_SIZE\`
  (default 4 GiB) — before, it was uncapped memory. \`$out\` and \`/build\` live on the store's
  filesystem with no per-build quota: a builder can fill that disk. When it does, its build fails
  with ENOSPC, nothing of it is stored and its space is freed, and a build beside it goes on (the
  test puts the store on a 48 MiB tmpfs); a full disk used to crash bramble through the build's
  log file, which now just stops. A per-build quota would need a project quota (XFS/ext4
  \`prjquota\`) or a size-limited loop mount for the build's directories.
- **A host path's identity** (what makes a derivation that sees \`sandbox_paths\` impure, in its
  hash) covers every directory's inode, mtime and ctime and every symlink, not every file's
  bytes: a package manager renames new files into place, which changes their directory, but a
  file edited in place by hand keeps its directory's identity (docs/sandbox.md).
- **Fetchers and the host's services**: a fetcher (node with its download script, or git) has a
  network namespace of its own like every build, and its one way out is a connect proxy in the
  engine, which refuses this host's own addresses (loopback, its interfaces, link-local) except a
  configured mirror's address and port: the loopback Debian mirror of tests and CI stays
  reachable, nothing else of the host is (docs/sandbox.md). A project's own fixed-output
  builders get a network namespace through slirp4netns; since slirp4netns connects from the
  host's namespace, a service listening on 0.0.0.0 used to answer them on the host's LAN
  address. The same rule now holds for them: netfilter rules loaded into the build's namespace
  before the builder runs reject this host's addresses, slirp4netns's gateway 10.0.2.2 and
  link-local, except a configured mirror's address and port (a loopback mirror at
  10.0.2.2:<port>); a build whose rules cannot be loaded never runs (build-network.ts). Other
  network namespaces of this host (a container on a bridge) stay reachable, for builds and
  fetchers alike.
- **Dangling output symlinks** fail the build ("output out ($out) is a dangling symlink (to …)")
  instead of being stored.
- **A lock being taken** (created with O_EXCL, its pid not yet written) was read as "pid NaN,
  dead" and broken by \`tryLock\` and by another process's startup cleanup, so two processes
  could build one derivation (the concurrency test caught "pair3 built 2 times"). An empty lock
  younger than 5 s is now held, and startup cleanup breaks stale locks through \`tryLock\`
  (moved aside and re-checked) instead of unlinking what it read a moment before.
- **Startup cleanup deleted a live output**: it read the list of valid paths, then the store
  directory, and removed what was not in the list and not locked — including a path another
  process had moved in and registered in between (the concurrency test's final verify found a
  registered path missing). It now takes the path's lock and looks in the DB again first.
- **Oversized WebSocket messages** close the socket (1009) and are now logged.
- **Slow WebSocket clients**: each client has its own event queue; a client more than 8 MiB
  behind (or 50,000 events) has log lines dropped and then gets one marker line, before its
  next event of any kind, saying how many; the full log stays on disk. The server's memory is
  bounded by those per-client limits, not by the log's length. (A marker used to wait for the
  next log line, so a gap at the very end of a log went unannounced: the load bench caught it.)
- **Symlink loops in sources** are an error at the \`derivation()\` call ("source "a" is a symlink
  loop"); other symlinks are copied as symlinks and never followed, so links that point outside
  the project dangle inside the sandbox.
- **Binary junk in a .bramble file** used to be echoed raw in the error's source line (terminal
  escape sequences included); errors now print control characters as U+FFFD, one for one, so the
  caret stays under its column.
`;

writeFileSync(output, md);
console.log(`wrote ${output}: ${rows.length} attacks, ${total} tries, ${held} held`);
if (unmapped) console.error(`${unmapped} of issue 12's attacks have no row`);
if (process.argv.includes("--check") && (held !== rows.length || unmapped)) process.exit(1);
