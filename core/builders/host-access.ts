// What of the host a build may see, decided by the user, never by a project: the host paths
// (a project's `sandbox_paths`) this user allowed, in the user's config or by an approval
// remembered per project root (`bramble allow-paths`), the identity of what such a path
// holds (it enters the hash of every derivation that sees it: such a derivation is impure),
// and the directories a file:// URL may name.
//
// User config ($BRAMBLE_CONFIG, else $XDG_CONFIG_HOME/bramble/config.toml, else
// ~/.config/bramble/config.toml):
//   [sandbox]
//   allowed_paths = ["/usr", "/bin"]     # allowed for every project (a path or anything below it)
//   [fetch]
//   file_roots = ["/srv/debian-mirror"]  # file:// URLs may name these besides the project
// Approvals: approved-paths.json beside that file, { "<project root>": ["/usr", ...] }.
import { createHash } from "node:crypto";
import {
  type BigIntStats,
  type Dirent,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, normalize, resolve, sep } from "node:path";
import { homedir, tmpdir } from "node:os";
import { readConfigFile, UserConfigToml } from "../config/schema.js";

/** The user's config file: $BRAMBLE_CONFIG, else $XDG_CONFIG_HOME/bramble/config.toml, else ~/.config/bramble/config.toml. */
export function userConfigFile(): string {
  if (process.env.BRAMBLE_CONFIG) return process.env.BRAMBLE_CONFIG;
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), ".config");
  return join(base, "bramble", "config.toml");
}

export class HostAccessError extends Error {}

interface UserSandboxConfig {
  allowedPaths: string[];
  fileRoots: string[];
}

/** The [sandbox] and [fetch] settings of the user's config (empty when there is no file). */
export function readUserSandboxConfig(file = userConfigFile()): UserSandboxConfig {
  if (!existsSync(file)) return { allowedPaths: [], fileRoots: [] };
  let doc: UserConfigToml;
  try {
    // The whole file is checked (core/config/schema.ts): errors name the file and the key.
    doc = readConfigFile(UserConfigToml, file);
  } catch (e) {
    throw new HostAccessError((e as Error).message);
  }
  return { allowedPaths: (doc.sandbox?.allowed_paths ?? []).map((p) => normalize(p)), fileRoots: (doc.fetch?.file_roots ?? []).map((p) => normalize(p)) };
}

/** Where `bramble allow-paths` remembers approvals: beside the user's config file. */
function approvalsFile(): string {
  return join(dirname(userConfigFile()), "approved-paths.json");
}

function readApprovals(): Record<string, string[]> {
  const f = approvalsFile();
  if (!existsSync(f)) return {};
  try {
    const v = JSON.parse(readFileSync(f, "utf8")) as unknown;
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("not an object");
    return v as Record<string, string[]>;
  } catch (e) {
    throw new HostAccessError(`${f}: ${(e as Error).message}`);
  }
}

/** Remember that the user allows `paths` for the project at `root` (bramble allow-paths). */
export function approvePaths(root: string, paths: string[]): string {
  const f = approvalsFile();
  const all = readApprovals();
  all[resolve(root)] = [...new Set([...(all[resolve(root)] ?? []), ...paths.map((p) => normalize(p))])].sort();
  mkdirSync(dirname(f), { recursive: true });
  const tmp = `${f}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(all, null, 2) + "\n", { mode: 0o600 });
  renameSync(tmp, f);
  return f;
}

function within(p: string, root: string): boolean {
  return p === root || root === "/" || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * The project's sandbox_paths, checked against what the user allowed. Throws a clear error
 * naming the refused paths, the bramble.toml field and the two ways to allow them.
 */
export function consentedSandboxPaths(projectRoot: string, sandboxPaths: string[]): string[] {
  if (sandboxPaths.length === 0) return [];
  const cfg = readUserSandboxConfig();
  const approved = readApprovals()[resolve(projectRoot)] ?? [];
  const allowed = [...cfg.allowedPaths, ...approved];
  const refused = sandboxPaths.filter((p) => !allowed.some((a) => within(normalize(p), a)));
  if (refused.length) {
    throw new HostAccessError(
      `${join(projectRoot, "bramble.toml")}: sandbox_paths ${refused.map((p) => JSON.stringify(p)).join(", ")} ` +
        `${refused.length === 1 ? "is" : "are"} not allowed by you: host paths are your decision, not a project's. ` +
        `Allow them for this project with \`bramble allow-paths ${projectRoot}\`, or for every project in ${userConfigFile()} ` +
        `([sandbox] allowed_paths); a derivation that sees a host path is impure.`,
    );
  }
  return sandboxPaths.map((p) => normalize(p));
}

const IDENTITY_TTL_MS = 30_000;
const identities = new Map<string, { at: number; id: string }>();

/**
 * Identities this user's bramble processes took in the last 30 s, shared through a file in a
 * directory only this user may enter ($TMPDIR/bramble-<uid>, 0700): a CLI, its worker and
 * the builds of one command walk /usr once, not once each.
 */
function sharedIdentities(): { file: string; read: () => Record<string, { at: number; id: string }> } | undefined {
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  const dir = join(tmpdir(), `bramble-${uid}`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") return undefined;
  }
  try {
    const st = lstatSync(dir);
    if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) return undefined;
  } catch {
    return undefined;
  }
  const file = join(dir, "host-identities.json");
  const read = () => {
    try {
      return JSON.parse(readFileSync(file, "utf8")) as Record<string, { at: number; id: string }>;
    } catch {
      return {};
    }
  };
  return { file, read };
}

function rememberShared(p: string, entry: { at: number; id: string }): void {
  const shared = sharedIdentities();
  if (!shared) return;
  const all = shared.read();
  all[p] = entry;
  for (const [k, v] of Object.entries(all)) if (Date.now() - v.at >= IDENTITY_TTL_MS) delete all[k];
  const tmp = `${shared.file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, JSON.stringify(all), { mode: 0o600 });
    renameSync(tmp, shared.file);
  } catch {
    /* a cache only */
  }
}

/**
 * The identity of what a host path holds: sha256 over the path and, walking without following
 * symlinks, every directory's name, inode, mtime and ctime and every symlink's target (not
 * every file's bytes: /usr holds 150,000 files, walked in about 1 s this way; a package
 * manager replaces a file by renaming a new one into its directory, which changes that
 * directory's mtime). A file edited in place keeps its directory's identity: see
 * docs/sandbox.md. Remembered for 30 s by this user's bramble processes (sharedIdentities). A
 * missing path has the identity "missing".
 */
function hostPathIdentity(p: string): string {
  const hit = identities.get(p) ?? sharedIdentities()?.read()[p];
  if (hit && typeof hit.id === "string" && Date.now() - hit.at < IDENTITY_TTL_MS && hit.at <= Date.now()) {
    identities.set(p, hit);
    return hit.id;
  }
  const h = createHash("sha256");
  const walk = (abs: string) => {
    let st: BigIntStats;
    try {
      st = lstatSync(abs, { bigint: true });
    } catch {
      h.update(`${abs}\0missing\n`);
      return;
    }
    if (st.isSymbolicLink()) {
      h.update(`${abs}\0link\0${readlinkSync(abs)}\n`);
      return;
    }
    if (!st.isDirectory()) {
      h.update(`${abs}\0file\0${st.ino}\0${st.size}\0${st.mtimeNs}\0${st.ctimeNs}\n`);
      return;
    }
    h.update(`${abs}\0dir\0${st.ino}\0${st.mtimeNs}\0${st.ctimeNs}\n`);
    let entries: Dirent[];
    try {
      entries = readdirSync(abs, { withFileTypes: true });
    } catch {
      h.update("unreadable\n");
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.isDirectory()) walk(join(abs, e.name));
      else if (e.isSymbolicLink()) h.update(`${join(abs, e.name)}\0link\0${readlinkSync(join(abs, e.name))}\n`);
    }
  };
  walk(p);
  const entry = { at: Date.now(), id: `sha256:${h.digest("hex")}` };
  identities.set(p, entry);
  rememberShared(p, entry);
  return entry.id;
}

/** path → identity, for a derivation's `hostPaths`. */
export function hostPathIdentities(paths: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of [...new Set(paths)].sort()) out[p] = hostPathIdentity(p);
  return out;
}

/** Host paths whose identity differs from what a derivation recorded (changed since evaluation). */
export function changedHostPaths(recorded: Record<string, string>): string[] {
  return Object.entries(recorded)
    .filter(([p, id]) => hostPathIdentity(p) !== id)
    .map(([p]) => p);
}

/**
 * The host file a file:// URL names, if it lies (after resolving every symlink on the way)
 * inside the project, a directory the user listed in [fetch] file_roots or one of `more` (a
 * file:// mirror the user configured); else a clear error.
 */
export function allowedFileUrlPath(file: string, projectRoot: string, more: string[] = []): string {
  const roots = [projectRoot, ...readUserSandboxConfig().fileRoots, ...more].filter(Boolean);
  let real: string;
  try {
    real = realpathSync(file);
  } catch (e) {
    throw new HostAccessError(`file://${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`);
  }
  const realRoots = roots.map((r) => {
    try {
      return realpathSync(r);
    } catch {
      return resolve(r);
    }
  });
  if (!realRoots.some((r) => within(real, r))) {
    throw new HostAccessError(
      `file://${file}${real !== file ? ` (really ${real})` : ""} is outside the project (${projectRoot}) and the directories in [fetch] file_roots of ${userConfigFile()}: a project may not read other host files`,
    );
  }
  return real;
}
