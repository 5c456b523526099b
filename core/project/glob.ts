// files(): glob patterns with `**`, relative to a directory, never leaving the project.
import { type Dirent, lstatSync, readdirSync } from "node:fs";
import { join, posix, relative, sep } from "node:path";

// Patterns are matched segment by segment with the two-pointer wildcard algorithm (the one
// of fnmatch and Go's path.Match family): a failed try resumes after the last `*` (or `**`)
// only, so a match costs at most pattern length × path length steps. A regular expression
// would backtrack exponentially on patterns like `*a*a*a*a*b` or `**/**/**/x`.

/** One segment's pattern: `*` and `?` within the segment, `[...]` a class (`[!...]` negated). */
type Token = { kind: "star" } | { kind: "any" } | { kind: "char"; c: string } | { kind: "class"; negate: boolean; ranges: [string, string][] };

function tokens(seg: string): Token[] {
  const out: Token[] = [];
  for (let k = 0; k < seg.length; k++) {
    const c = seg[k]!;
    if (c === "*") {
      if (out.at(-1)?.kind !== "star") out.push({ kind: "star" });
    } else if (c === "?") out.push({ kind: "any" });
    else if (c === "[" && seg.indexOf("]", k + 2) > 0) {
      const end = seg.indexOf("]", k + 2);
      let body = seg.slice(k + 1, end);
      const negate = body.startsWith("!") || body.startsWith("^");
      if (negate) body = body.slice(1);
      const ranges: [string, string][] = [];
      for (let i = 0; i < body.length; i++) {
        if (body[i + 1] === "-" && i + 2 < body.length) {
          ranges.push([body[i]!, body[i + 2]!]);
          i += 2;
        } else ranges.push([body[i]!, body[i]!]);
      }
      out.push({ kind: "class", negate, ranges });
      k = end;
    } else out.push({ kind: "char", c });
  }
  return out;
}

function tokenMatches(t: Token, c: string): boolean {
  if (t.kind === "any") return true;
  if (t.kind === "char") return t.c === c;
  if (t.kind === "class") return t.ranges.some(([lo, hi]) => c >= lo && c <= hi) !== t.negate;
  return false;
}

/** Two-pointer wildcard match: `isStar(p)` items take any run of items, others match one. */
function wildcard<P, S>(pattern: P[], subject: S[], isStar: (p: P) => boolean, one: (p: P, s: S) => boolean): boolean {
  let p = 0;
  let s = 0;
  let starP = -1;
  let starS = 0;
  while (s < subject.length) {
    if (p < pattern.length && isStar(pattern[p]!)) {
      starP = p++;
      starS = s;
    } else if (p < pattern.length && one(pattern[p]!, subject[s]!)) {
      p++;
      s++;
    } else if (starP >= 0) {
      p = starP + 1;
      s = ++starS;
    } else return false;
  }
  while (p < pattern.length && isStar(pattern[p]!)) p++;
  return p === pattern.length;
}

type Segment = { kind: "globstar" } | { kind: "seg"; tokens: Token[] };

/**
 * A matcher for a glob pattern: `**` any number of path segments (at the end: one or more),
 * `*` and `?` within one segment, `[...]` a class.
 */
export function globMatcher(pattern: string): (path: string) => boolean {
  const parts: Segment[] = pattern.split("/").map((seg) => (seg === "**" ? { kind: "globstar" } : { kind: "seg", tokens: tokens(seg) }));
  // A trailing `**` (one or more segments) is `**/*`: any number of segments, then one.
  if (parts.at(-1)?.kind === "globstar") parts.push({ kind: "seg", tokens: [{ kind: "star" }] });
  const isStar = (t: Token) => t.kind === "star";
  const segMatches = (part: Segment, seg: string) => part.kind === "seg" && wildcard(part.tokens, [...seg], isStar, tokenMatches);
  return (path: string) => wildcard(parts, path.split("/"), (x) => x.kind === "globstar", segMatches);
}

/** Why a pattern cannot be matched as written, or undefined: an unclosed or empty `[...]`. */
export function patternProblem(pattern: string): string | undefined {
  for (const seg of pattern.split("/")) {
    for (let k = 0; k < seg.length; k++) {
      if (seg[k] !== "[") continue;
      const end = seg.indexOf("]", k + 2);
      if (end < 0) return `'[' at column ${k + 1} of ${JSON.stringify(seg)} has no closing ']'`;
      k = end;
    }
  }
  return undefined;
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
  const include = opts.include.map(globMatcher);
  const exclude = opts.exclude.map(globMatcher);
  const matches = (rel: string) => include.some((m) => m(rel)) && !exclude.some((m) => m(rel));
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: Dirent[];
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
