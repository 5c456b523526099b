// `mirror://<name>/<path>` URLs (Nix's mirror:// idea): a derivation names a file by its path
// in a well-known archive (`mirror://debian/pool/main/b/busybox/...deb`) plus its hash, and
// where that archive is fetched from is this user's setting, never part of a derivation's
// hash. So a loopback mirror, deb.debian.org and snapshot.debian.org give the same derivations.
//   1. $BRAMBLE_MIRROR_<NAME> (e.g. BRAMBLE_MIRROR_DEBIAN), for tests and one-off runs;
//   2. the user's config file (see userConfigFile): [mirrors] debian = "https://...";
//   3. the defaults below.
// A base may be http(s):// or file:// (a directory laid out like the mirror).
import { lookup } from "node:dns/promises";
import { existsSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { parse as parseToml } from "smol-toml";
import { userConfigFile } from "./host-access.js";

export const DEFAULT_MIRRORS: Record<string, string> = {
  debian: "https://deb.debian.org/debian",
};

export class MirrorError extends Error {}

export function isMirrorUrl(url: string): boolean {
  return url.startsWith("mirror://");
}

/** The base URL configured for mirror `name`, and where that setting came from. */
export function mirrorBase(name: string, configFile = userConfigFile()): { base: string; from: string } {
  const envName = `BRAMBLE_MIRROR_${name.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
  const fromEnv = process.env[envName];
  if (fromEnv) return { base: checkBase(fromEnv, `$${envName}`), from: `$${envName}` };
  if (existsSync(configFile)) {
    let doc: Record<string, unknown>;
    try {
      doc = parseToml(readFileSync(configFile, "utf8")) as Record<string, unknown>;
    } catch (e) {
      throw new MirrorError(`${configFile}: ${(e as Error).message}`);
    }
    const mirrors = doc.mirrors;
    if (mirrors !== undefined && (typeof mirrors !== "object" || mirrors === null || Array.isArray(mirrors))) {
      throw new MirrorError(`${configFile}: [mirrors] must be a table`);
    }
    const v = (mirrors as Record<string, unknown> | undefined)?.[name];
    if (v !== undefined) {
      if (typeof v !== "string") throw new MirrorError(`${configFile}: mirrors.${name} must be a string (a URL)`);
      return { base: checkBase(v, `${configFile}: mirrors.${name}`), from: `${configFile} [mirrors] ${name}` };
    }
  }
  const d = DEFAULT_MIRRORS[name];
  if (!d) {
    throw new MirrorError(
      `no mirror is configured for mirror://${name}/ (set ${envName}, or [mirrors] ${name} = "https://..." in ${configFile}; known by default: ${Object.keys(DEFAULT_MIRRORS).join(", ")})`,
    );
  }
  return { base: d, from: "the default" };
}

function checkBase(base: string, where: string): string {
  if (!/^(https?|file):\/\/./.test(base)) throw new MirrorError(`${where}: mirror ${JSON.stringify(base)} must be an http://, https:// or file:// URL`);
  return base.replace(/\/+$/, "");
}

/**
 * Every mirror base the user configured ($BRAMBLE_MIRROR_<NAME> and [mirrors] in the user's
 * config; the defaults are not), and every package source ([packages]: where dependencies by
 * version are fetched from, core/project/dependencies.ts): the only services of this host a
 * fetcher may reach (fetch-proxy.ts). A malformed entry is skipped here; resolving a mirror://
 * URL or a package's source reports it.
 */
function configuredMirrorBases(configFile = userConfigFile()): string[] {
  const bases: string[] = [];
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith("BRAMBLE_MIRROR_") && v && /^https?:\/\/./.test(v)) bases.push(v);
  if (existsSync(configFile)) {
    try {
      const doc = parseToml(readFileSync(configFile, "utf8")) as Record<string, unknown>;
      for (const table of [doc.mirrors, doc.packages])
        if (table && typeof table === "object" && !Array.isArray(table))
          for (const v of Object.values(table)) if (typeof v === "string" && /^https?:\/\/./.test(v)) bases.push(v);
    } catch {
      /* reported where a mirror is resolved */
    }
  }
  return bases;
}

/** A configured http(s) mirror's host, port and the addresses its name resolves to (none: allows nothing). */
export interface MirrorEndpoint {
  host: string;
  port: number;
  addresses: string[];
}

/** Where the configured http(s) mirrors and package sources listen: the one way to a service of this host. */
export async function mirrorEndpoints(configFile?: string): Promise<MirrorEndpoint[]> {
  const found: MirrorEndpoint[] = [];
  for (const base of configuredMirrorBases(configFile)) {
    let u: URL;
    try {
      u = new URL(base);
    } catch {
      continue;
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") continue;
    const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
    const host = u.hostname.replace(/^\[|\]$/g, "");
    let addresses: string[] = [];
    try {
      addresses = isIP(host) ? [host] : (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch {
      /* a mirror whose name does not resolve allows nothing */
    }
    found.push({ host: u.hostname, port, addresses });
  }
  return found;
}

/** `mirror://name/path` → the configured base + `/path`; other URLs are returned as they are. */
export function resolveMirrorUrl(url: string, configFile?: string): string {
  if (!isMirrorUrl(url)) return url;
  const m = /^mirror:\/\/([A-Za-z0-9_-]+)\/(.+)$/.exec(url);
  if (!m) throw new MirrorError(`${url}: a mirror URL is mirror://<name>/<path>`);
  return `${mirrorBase(m[1]!, configFile).base}/${m[2]!}`;
}
