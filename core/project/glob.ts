// files(): glob patterns with `**`, relative to a directory, never leaving the project.
import { lstatSync, readdirSync } from "node:fs";
import { join, posix, relative, sep } from "node:path";

/** `**` any number of path segments, `*` and `?` within one segment, `[...]` a class. */
export function globToRegExp(pattern: string): RegExp {
  let re = "^";
  const segs = pattern.split("/");
  segs.forEach((seg, i) => {
    const last = i === segs.length - 1;
    if (seg === "**") {
      re += last ? ".*" : "(?:[^/]+/)*";
      return;
    }
    for (let k = 0; k < seg.length; k++) {
      const c = seg[k]!;
      if (c === "*") re += "[^/]*";
      else if (c === "?") re += "[^/]";
      else if (c === "[") {
        const end = seg.indexOf("]", k + 1);
        if (end < 0) re += "\\[";
        else {
          const body = seg.slice(k + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\");
          re += `[${body}]`;
          k = end;
        }
      } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
    }
    if (!last) re += "/";
  });
  return new RegExp(re + "$");
}

export interface GlobOptions {
  include: string[];
  exclude: string[];
  includeDirectories: boolean;
  /** directories not to descend into (relative to base): nested projects, .git */
  skipDir?: (relPath: string, absPath: string) => boolean;
}

/** Paths relative to `base`, sorted. Symlinks are listed, never followed. */
export function glob(base: string, opts: GlobOptions): string[] {
  const include = opts.include.map(globToRegExp);
  const exclude = opts.exclude.map(globToRegExp);
  const matches = (rel: string) => include.some((r) => r.test(rel)) && !exclude.some((r) => r.test(rel));
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const abs = join(dir, entry.name);
      const rel = relative(base, abs).split(sep).join(posix.sep);
      if (entry.isDirectory()) {
        if (entry.name === ".git" || opts.skipDir?.(rel, abs)) continue;
        if (opts.includeDirectories && matches(rel)) out.push(rel);
        walk(abs);
      } else if (matches(rel)) {
        out.push(rel);
      }
    }
  };
  walk(base);
  return out.sort();
}

export function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
