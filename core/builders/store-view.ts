// A build's store view: its input closure laid out in one directory, shown to the sandbox
// through a constant number of mounts whatever the closure's size (issue 17).
//
// Like Nix's chroot store: directories are recreated, files hard-linked (copied when the
// store is on another filesystem), symlinks recreated as symlinks with the same target
// (never resolved on the host). The builder creates its outputs in the same directory.
//
// Hard links share their inodes with the store, and the builder runs as the user who owns
// the store: through a plain bind it could `chmod u+w` an input and write the store. So the
// view is bound through an idmapped mount (Linux 5.12+) whose map swaps root and nobody: in
// the sandbox every input belongs to nobody (no chmod, no write: files 0444, directories
// 0555), while the view's top directory is sticky and world-writable (new outputs can be
// made there, inputs can be neither renamed nor removed). What the builder creates is owned
// by nobody on disk; sealing the output (core/store/seal.ts) gives it back to the store's user
// before it is hashed.
//
// The idmapped mount is made by a small helper (store-view-helper.c, else perl) in a private mount
// namespace of its own, which then execs the sandbox: nothing is mounted on the host and
// nothing needs unmounting. It needs root; elsewhere (rootless bramble, an old kernel, a
// filesystem without idmapped mounts) the sandbox binds each input instead, as before.
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { hashPart } from "../store/layout.js";
import { removeTree } from "../store/store.js";

/** unshare(2) by architecture (the newer mount syscalls share one number everywhere). */
const UNSHARE: Partial<Record<string, number>> = { x64: 272, arm64: 97, riscv64: 97, loong64: 97 };
const PERL = "/usr/bin/perl";

/**
 * The helper: argv is `view command...`. A child makes a user namespace mapping root↔nobody,
 * whose fd idmaps a clone of the view mounted over the view in a private mount namespace.
 */
function helperScript(unshare: number): string {
  return `
my ($view, @cmd) = @ARGV;
my ($root, $empty) = ("/", "");
sub fail { print STDERR "bramble store view: $_[0]: $!\\n"; exit 125 }
pipe(my $r1, my $w1) or fail("pipe"); pipe(my $r2, my $w2) or fail("pipe");
my $pid = fork; defined $pid or fail("fork");
if (!$pid) { close $r1; close $w2; syscall(${unshare}, 0x10000000) == 0 or exit 1; syswrite $w1, "1"; sysread $r2, my $b, 1; exit 0 }
close $w1; close $r2;
sysread($r1, my $ok, 1) or fail("user namespace");
for my $f ("uid_map", "gid_map") { open(my $m, ">", "/proc/$pid/$f") or fail($f); print $m "0 65534 1\\n65534 0 1\\n"; close $m or fail($f) }
open(my $ns, "<", "/proc/$pid/ns/user") or fail("user namespace fd");
close $w2; waitpid($pid, 0);
syscall(${unshare}, 0x20000) == 0 or fail("mount namespace");
my $private = pack("QQQQ", 0, 0, 0x40000, 0);
syscall(442, -100, $root, 0x8000, $private, 32) == 0 or fail("private mounts");
my $fd = syscall(428, -100, $view, 1 | 0x80000); $fd >= 0 or fail("open_tree");
my $idmap = pack("QQQQ", 0x100000, 0, 0, fileno($ns));
syscall(442, $fd, $empty, 0x1000, $idmap, 32) == 0 or fail("idmapped mount");
syscall(429, $fd, $empty, -100, $view, 4) == 0 or fail("move_mount");
close $ns;
exec { $cmd[0] } @cmd or fail("exec $cmd[0]");
`;
}

/**
 * dist/store-view-helper (core/builders/store-view-helper.c, built by scripts/build.mjs when
 * there is a C compiler), or undefined (then perl and shells do its work).
 * BRAMBLE_STORE_VIEW_HELPER=perl chooses the script.
 */
export function compiledHelper(): string | undefined {
  if (process.env.BRAMBLE_STORE_VIEW_HELPER === "perl") return undefined;
  if (helperPath === undefined) {
    const here = dirname(fileURLToPath(import.meta.url));
    helperPath = [here, join(here, ".."), join(here, "../../dist")].map((d) => join(d, "store-view-helper")).find((p) => existsSync(p)) ?? null;
  }
  return helperPath ?? undefined;
}
let helperPath: string | null | undefined;

/** The helper's argv prefix: the compiled helper (it starts in a fraction of perl's time) or the perl script. */
function helperPrefix(): string[] {
  const compiled = compiledHelper();
  return compiled ? [compiled] : [PERL, "-e", helperScript(UNSHARE[process.arch]!)];
}

const probed = new Map<string, boolean>();

/**
 * Can builds under `tmpDir` use a store view? Root on Linux with perl and idmapped mounts on
 * that filesystem; tried once per directory and process. BRAMBLE_STORE_VIEW=0 turns it off.
 */
export function storeViewAvailable(tmpDir: string): boolean {
  if (process.env.BRAMBLE_STORE_VIEW === "0") return false;
  const key = `${tmpDir}\0${helperPrefix()[0]}`;
  const known = probed.get(key);
  if (known !== undefined) return known;
  let ok = false;
  if (process.platform === "linux" && process.getuid?.() === 0 && UNSHARE[process.arch] && existsSync(PERL)) {
    const dir = join(tmpDir, `${process.pid}-view-probe`);
    try {
      mkdirSync(dir, { recursive: true });
      const [cmd, ...pre] = helperPrefix();
      const r = spawnSync(cmd!, [...pre, dir, "/bin/sh", "-c", ":"], { stdio: "ignore", timeout: 10_000 });
      ok = r.status === 0;
    } catch {
      ok = false;
    } finally {
      removeTree(dir);
    }
  }
  probed.set(key, ok);
  return ok;
}

/**
 * `argv` run with `view` idmapped (root↔nobody) over itself, in a private mount namespace; with
 * `netns` (the compiled helper only: helperNetnsAvailable), in a network namespace of its own too.
 */
export function storeViewArgv(view: string, argv: string[], netns = false): string[] {
  if (netns) return [compiledHelper()!, "--netns", "--view", view, "--", ...argv];
  return [...helperPrefix(), view, ...argv];
}

let helperNetns: boolean | undefined;

/** helperNetnsAvailable's answer if known, else yes (root with the compiled helper): no probe. */
export function helperNetnsGuess(): boolean {
  if (process.env.BRAMBLE_HELPER_NETNS === "0") return false;
  return helperNetns ?? (!!compiledHelper() && process.getuid?.() === 0);
}

/**
 * Can the compiled helper give a sandbox a network namespace of its own, loopback up (its
 * `--netns`: unshare(CLONE_NEWNET) needs root in this user namespace)? Tried once per process
 * (the overlay's probe tries it on the way); BRAMBLE_HELPER_NETNS=0 turns it off.
 */
export function helperNetnsAvailable(): boolean {
  if (process.env.BRAMBLE_HELPER_NETNS === "0") return false;
  if (helperNetns !== undefined) return helperNetns;
  const helper = compiledHelper();
  helperNetns = false;
  if (helper && process.platform === "linux" && process.getuid?.() === 0) {
    const r = spawnSync(helper, ["--netns", "--", "/bin/sh", "-c", ":"], { stdio: "ignore", timeout: 10_000 });
    helperNetns = r.status === 0;
  }
  return helperNetns;
}

const overlayProbed = new Map<string, boolean>();

/**
 * Can builds under `tmpDir` see their store view through an overlay (storeOverlayArgv)? The
 * compiled helper, a store view, and overlayfs over an idmapped layer (Linux 5.19+); tried once
 * per directory and process. BRAMBLE_STORE_OVERLAY=0 turns it off.
 */
export function storeOverlayAvailable(tmpDir: string): boolean {
  if (process.env.BRAMBLE_STORE_OVERLAY === "0" || process.env.BRAMBLE_STORE_VIEW === "0" || !compiledHelper()) return false;
  const known = overlayProbed.get(tmpDir);
  if (known !== undefined) return known;
  // What the store view needs, and one start of the helper for both (a start under load costs
  // up to a tenth of a second): an overlay that works is a store view that works.
  if (!(process.platform === "linux" && process.getuid?.() === 0 && UNSHARE[process.arch] && existsSync(PERL))) {
    overlayProbed.set(tmpDir, false);
    return false;
  }
  let ok = false;
  const root = join(tmpDir, `${process.pid}-overlay-probe`);
  try {
    for (const d of ["", "view", "upper", "work", "store"]) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, "view/f"), "");
    // With --netns first: one start of the helper answers helperNetnsAvailable too when it works.
    const probe = (netns: boolean) =>
      spawnSync(
        compiledHelper()!,
        [...(netns ? ["--netns"] : []), "--overlay", root, "--", "/bin/sh", "-c", `test -f ${root}/store/f && : > ${root}/store/g`],
        {
          stdio: "ignore",
          timeout: 10_000,
        },
      ).status === 0 &&
      existsSync(join(root, "upper/g")) &&
      !existsSync(join(root, "view/g"));
    const withNetns = helperNetns === undefined && process.env.BRAMBLE_HELPER_NETNS !== "0";
    ok = withNetns && probe(true);
    if (withNetns && ok) helperNetns = true;
    else ok = probe(false);
  } catch {
    ok = false;
  } finally {
    removeTree(root);
  }
  overlayProbed.set(tmpDir, ok);
  if (ok) probed.set(`${tmpDir}\0${helperPrefix()[0]}`, true);
  return ok;
}

/**
 * `argv` run with ROOT/view idmapped (root↔nobody) as the lower layer of an overlay mounted at
 * ROOT/store, whose upper layer ROOT/upper (sticky, world-writable, owned by nobody: the
 * builder can add entries and remove none of the view's) receives everything the builder
 * writes. The view is never changed, so the next build can reuse it as it is.
 */
export function storeOverlayArgv(root: string, argv: string[], netns = false): string[] {
  return [compiledHelper()!, ...(netns ? ["--netns"] : []), "--overlay", root, "--", ...argv];
}

/** Make ROOT/view, ROOT/upper and ROOT/work for storeOverlayArgv (ROOT/store is the caller's); returns ROOT/view. */
export function makeOverlayDirs(root: string): string {
  for (const d of ["view", "upper", "work"]) mkdirSync(join(root, d));
  const upper = join(root, "upper");
  chmodSync(upper, 0o1777);
  chownSync(upper, NOBODY, NOBODY);
  return join(root, "view");
}
const NOBODY = 65534;

/**
 * What a view holds: its store names, and the same by hash part (the candidates for a build's
 * references), both kept up to date as the view is reused, never rebuilt whole.
 */
export interface ViewContents {
  names: Set<string>;
  byHashPart: Map<string, string>;
}

/** A view's names are exactly the closure of `roots` (its build's inputs), when those are known. */
interface Held extends ViewContents {
  roots?: string[];
}

/** Views kept for the next build, by store directory; the views builds are using now. */
const pools = new Map<string, ({ dir: string; at: number; pristine: boolean } & Held)[]>();
const inUse = new Map<string, { storeDir: string } & Held>();
const POOL_SIZE = 4;
/** A pooled view unused this long is removed (it may hold paths the store has since collected). */
const POOL_IDLE_MS = 20_000;
let pooled = 0;
let sweeper: NodeJS.Timeout | undefined;

/**
 * Lay out the store paths `names` (of `storeDir`) in `view` (an empty directory on the store's
 * filesystem): no mount per path. A view a finished build gave back (releaseStoreView) is
 * reused when there is one: what both closures share stays, the rest is removed or linked,
 * so a build whose closure grew by one path costs one link and one pass over `names` (none
 * over the view when only overlays showed it); otherwise linear in the closure's files.
 * `overlay`: the builder sees the view through an overlay (storeOverlayArgv) and writes none
 * of it; else it creates its outputs in the view itself, which is then world-writable.
 */
export function linkStoreView(
  view: string,
  storeDir: string,
  names: Iterable<string> | (() => Iterable<string>),
  opts: { overlay?: boolean; inputs?: string[]; references?: (name: string) => readonly string[] } = {},
): ViewContents {
  const closure = (): ReadonlySet<string> => {
    const n = typeof names === "function" ? names() : names;
    return n instanceof Set ? n : new Set(n);
  };
  const pool = pools.get(storeDir);
  let old = pool?.pop();
  while (old && Date.now() - old.at > POOL_IDLE_MS) {
    removeTree(old.dir);
    old = pool?.pop();
  }
  let contents: ViewContents;
  const link = (n: string) => {
    linkEntry(join(storeDir, n), join(view, n));
    contents.names.add(n);
    contents.byHashPart.set(hashPart(n), n);
  };
  if (old) {
    rmdirSync(view);
    renameSync(old.dir, view);
    contents = { names: old.names, byHashPart: old.byHashPart };
    // What the view lacks, found from the inputs without walking the whole closure: a view is
    // a closure, so a path it holds comes with its references, and the walk stops there. The
    // view then holds exactly the new closure if the previous build's inputs are among the
    // paths the walk stopped at (the old closure is theirs, so within the new one). Only for a
    // view only overlays showed (it holds exactly its old closure).
    let added: string[] | undefined;
    if (old.pristine && old.roots && opts.inputs && opts.references) {
      const reached = new Set(opts.inputs);
      const stops = new Set<string>();
      const lacking: string[] = [];
      for (const n of reached) {
        if (contents.names.has(n)) {
          stops.add(n);
          continue;
        }
        lacking.push(n);
        for (const r of opts.references(n)) reached.add(r);
      }
      if (old.roots.every((r) => stops.has(r))) added = lacking;
    }
    if (added) {
      for (const n of added) link(n);
    } else {
      const want = closure();
      // Only entries of the old closure are known untouched (a build can change none of its
      // inputs); anything else a builder left there goes, which takes a listing of the whole
      // view, unless only overlays showed it (then it holds exactly the old closure).
      if (!old.pristine) for (const e of readdirSync(view)) if (!contents.names.has(e)) removeTree(join(view, e));
      let shared = 0;
      const missing: string[] = [];
      for (const n of want) {
        if (contents.names.has(n)) shared++;
        else missing.push(n);
      }
      if (shared < contents.names.size)
        for (const e of [...contents.names])
          if (!want.has(e)) {
            removeTree(join(view, e));
            contents.names.delete(e);
            contents.byHashPart.delete(hashPart(e));
          }
      for (const n of missing) link(n);
    }
  } else {
    contents = { names: new Set(), byHashPart: new Map() };
    for (const n of closure()) link(n);
  }
  // Outputs are made here by the builder (as "nobody" on disk, see above); inputs stay put.
  // Only this process may reach the world-writable view: its parent is closed to others.
  chmodSync(view, opts.overlay ? 0o755 : 0o1777);
  chmodSync(dirname(view), 0o700);
  inUse.set(view, { storeDir, ...contents, ...(opts.inputs ? { roots: opts.inputs } : {}) });
  return contents;
}

/**
 * The build that used `view` is over and its outputs have left it: keep the view (its inputs)
 * for the next build. Returns false when the pool is full (the caller removes it as before).
 * `pristine`: the builder saw it only through an overlay, so it holds exactly its closure.
 */
export function releaseStoreView(view: string, pristine = false): boolean {
  const u = inUse.get(view);
  if (!u) return false;
  inUse.delete(view);
  let pool = pools.get(u.storeDir);
  if (!pool) pools.set(u.storeDir, (pool = []));
  if (pool.length >= POOL_SIZE) return false;
  // Beside the build's own directory in var/tmp, named for this process (cleaned at start-up if it died).
  const dir = join(dirname(dirname(view)), `${process.pid}-view-${++pooled}`);
  try {
    renameSync(view, dir);
    chmodSync(dir, 0o700);
  } catch {
    return false;
  }
  pool.push({ dir, names: u.names, byHashPart: u.byHashPart, ...(u.roots ? { roots: u.roots } : {}), at: Date.now(), pristine });
  if (!sweeper) {
    sweeper = setInterval(sweepPools, POOL_IDLE_MS).unref();
    process.once("exit", () => sweepPools(true));
  }
  return true;
}

/**
 * Remove the views kept for later builds: of one store (its engine is closing, so nothing of
 * this process should stay in its var/tmp), or of every store. They also go when this process exits.
 */
export function dropStoreViews(storeDir?: string): void {
  sweepPools(true, storeDir);
}

function sweepPools(all = false, storeDir?: string): void {
  for (const [dir, pool] of pools) {
    if (storeDir !== undefined && dir !== storeDir) continue;
    for (let i = pool.length - 1; i >= 0; i--) {
      if (!all && Date.now() - pool[i]!.at <= POOL_IDLE_MS) continue;
      removeTree(pool[i]!.dir);
      pool.splice(i, 1);
    }
  }
}

function linkEntry(src: string, dst: string, type?: "dir" | "file" | "link"): void {
  let mode = 0;
  if (!type) {
    const st = lstatSync(src);
    type = st.isDirectory() ? "dir" : st.isSymbolicLink() ? "link" : "file";
    mode = st.mode;
  }
  if (type === "link") {
    symlinkSync(readlinkSync(src), dst);
  } else if (type === "file") {
    try {
      linkSync(src, dst);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "EXDEV" && code !== "EPERM" && code !== "EMLINK") throw e;
      copyFileSync(src, dst);
      chmodSync(dst, (mode || lstatSync(src).mode) & 0o555);
    }
  } else {
    mkdirSync(dst);
    for (const e of readdirSync(src, { withFileTypes: true })) {
      linkEntry(join(src, e.name), join(dst, e.name), e.isDirectory() ? "dir" : e.isSymbolicLink() ? "link" : e.isFile() ? "file" : undefined);
    }
    chmodSync(dst, (mode || lstatSync(src).mode) & 0o555);
  }
}
