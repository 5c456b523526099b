// Where things live under $BRAMBLE_PATH, and the fixed-length store directory that makes
// outputs relocatable by byte replacement (see docs/store.md).
import { homedir } from "node:os";
import { join, resolve } from "node:path";

/** Every store directory is exactly this many bytes long (padded with `_`). */
export const STORE_DIR_LENGTH = 64;
/** What a store directory is replaced with before hashing: same length, the same everywhere. */
export const CANONICAL_STORE_DIR = "/bramble/store".padEnd(STORE_DIR_LENGTH, "_");
/** Length of the hash part of a store name. */
export const HASH_PART_LENGTH = 32;
/** Stands for an output's own hash part while it is hashed (self-references). */
export const SELF_HASH_PLACEHOLDER = "0".repeat(HASH_PART_LENGTH);

export interface Layout {
  home: string;
  /** the padded store directory, exactly STORE_DIR_LENGTH bytes */
  storeDir: string;
  /** `<home>/store`, a symlink to storeDir for people */
  storeLink: string;
  varDir: string;
  dbFile: string;
  logDir: string;
  tmpDir: string;
  lockDir: string;
  rootsDir: string;
}

export function defaultHome(): string {
  return resolve(process.env.BRAMBLE_PATH || join(homedir(), "bramble"));
}

export function layout(home: string): Layout {
  home = resolve(home).replace(/\/+$/, "");
  const base = join(home, "store");
  if (Buffer.byteLength(base) + 1 > STORE_DIR_LENGTH) {
    throw new Error(
      `BRAMBLE_PATH ${home} is too long: the store directory must fit in ${STORE_DIR_LENGTH} bytes ` + `(use a path of at most ${STORE_DIR_LENGTH - 7} bytes)`,
    );
  }
  const storeDir = base + "_".repeat(STORE_DIR_LENGTH - Buffer.byteLength(base));
  const varDir = join(home, "var");
  return {
    home,
    storeDir,
    storeLink: base,
    varDir,
    dbFile: join(varDir, "bramble.db"),
    logDir: join(varDir, "log"),
    tmpDir: join(varDir, "tmp"),
    lockDir: join(varDir, "locks"),
    rootsDir: join(varDir, "roots"),
  };
}

const NAME_RE = /^[0-9a-z]{32}-[A-Za-z0-9+._?=-]+$/;

/** A store name is `<32-char hash>-<name>`; the name part is sanitized from the derivation name. */
export function storeName(hashPart: string, name: string): string {
  return `${hashPart}-${sanitizeName(name)}`;
}

export function sanitizeName(name: string): string {
  const s = name
    .replace(/[^A-Za-z0-9+._?=-]/g, "_")
    .replace(/^\.+/, "_")
    .slice(0, 100);
  return s || "output";
}

export function isStoreName(name: string): boolean {
  return NAME_RE.test(name);
}

export function hashPart(name: string): string {
  return name.slice(0, HASH_PART_LENGTH);
}
