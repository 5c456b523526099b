// Source files of a derivation: their content hash (part of the derivation, so an edited
// file is a new derivation) and their copy into a build directory.
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, lstatSync, type Stats, mkdirSync, readFileSync, readlinkSync, symlinkSync } from "node:fs";
import { dirname, isAbsolute, join, normalize } from "node:path";
import { base32 } from "../derivation/derivation.js";
import type { DerivationSources } from "../derivation/derivation.js";
import { updateLengthPrefixed } from "./archive.js";

function checkRelative(file: string): string {
  const n = normalize(file);
  if (isAbsolute(n) || n === ".." || n.startsWith("../") || n === ".") {
    throw new Error(`source file ${JSON.stringify(file)} is not inside the project`);
  }
  return n;
}

/**
 * A source is read only through real directories of the project: a symlink among its parent
 * directories (`dir-link/secret.txt`, `dir-link` pointing out of the project) would be
 * followed on the host. The source itself may be a symlink; it is copied as one.
 */
function checkRealParents(projectRoot: string, rel: string): void {
  const parts = rel.split("/").slice(0, -1);
  for (let i = 1; i <= parts.length; i++) {
    const prefix = parts.slice(0, i).join("/");
    let st: Stats;
    try {
      st = lstatSync(join(projectRoot, prefix));
    } catch {
      return; // missing: the read below says so
    }
    if (!st.isDirectory()) {
      throw new Error(
        `source ${rel} is under ${prefix}, which is ${st.isSymbolicLink() ? `a symlink (to ${readlinkSync(join(projectRoot, prefix))})` : "not a directory"}: sources are never read through a link`,
      );
    }
  }
}

/**
 * The content hash of source files, relative to `projectRoot`: names (sorted), the
 * executable bit, symlink targets and contents. 32 base32 characters.
 */
export function hashSources(projectRoot: string, files: string[]): string {
  const h = createHash("sha256");
  for (const file of [...files].map(checkRelative).sort()) {
    checkRealParents(projectRoot, file);
    const abs = join(projectRoot, file);
    const st = lstatSync(abs);
    updateLengthPrefixed(h, file);
    if (st.isSymbolicLink()) {
      updateLengthPrefixed(h, "symlink");
      updateLengthPrefixed(h, readlinkSync(abs));
    } else if (st.isFile()) {
      updateLengthPrefixed(h, st.mode & 0o111 ? "x" : "-");
      updateLengthPrefixed(h, readFileSync(abs));
    } else {
      throw new Error(`source ${file} is not a regular file or symlink`);
    }
  }
  return base32(h.digest().subarray(0, 20));
}

/** Copy a derivation's sources into `dest`, checking they still hash to `sources.hash`. */
export function copySources(projectRoot: string, sources: DerivationSources, dest: string): void {
  const got = hashSources(projectRoot, sources.files);
  if (got !== sources.hash) {
    throw new Error(`source files changed since evaluation (expected hash ${sources.hash}, got ${got}); evaluate again`);
  }
  for (const file of sources.files) {
    const rel = checkRelative(file);
    checkRealParents(projectRoot, rel);
    const from = join(projectRoot, rel);
    const to = join(dest, rel);
    mkdirSync(dirname(to), { recursive: true });
    const st = lstatSync(from);
    if (st.isSymbolicLink()) symlinkSync(readlinkSync(from), to);
    else {
      copyFileSync(from, to);
      chmodSync(to, st.mode & 0o111 ? 0o755 : 0o644);
    }
  }
  if (sources.dir && sources.dir !== ".") mkdirSync(join(dest, checkRelative(sources.dir)), { recursive: true });
}
