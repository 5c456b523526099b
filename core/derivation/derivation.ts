// The Derivation type, its canonical JSON and its hash. A derivation is one build
// step; everything that can change what it builds is part of the hash, including
// `platform` (built on) and `system` (built for).
import { createHash } from "node:crypto";

/** Built-in builders run by the engine itself instead of a program. */
export const BUILTIN_BUILDERS = ["fetch_url", "fetch_git", "derivation_output"] as const;
export type BuiltinBuilder = (typeof BUILTIN_BUILDERS)[number];

export interface DerivationSources {
  /** content hash of the source files (see store/sources) */
  hash: string;
  /** the directory of the .bramble file, relative to the project root; the build's cwd */
  dir: string;
  /** the files, relative to the project root, sorted */
  files: string[];
}

export interface Derivation {
  name: string;
  /** a program (usually a `{{ hash:out }}/bin/x` template) or a built-in builder name */
  builder: string;
  args: string[];
  env: Record<string, string>;
  sources?: DerivationSources;
  /** output names; the first is the default */
  outputs: string[];
  /** true only for fixed-output derivations */
  network: boolean;
  /** the system this derivation is built on */
  platform: string;
  /** the system its output is for */
  system: string;
  /** a backend name that must build it; absent means "plan chooses" */
  builderBackend?: string;
  /** fixed-output derivations: the expected output hash ("sha256:<base32>") */
  outputHash?: string;
  /** fixed-output derivations with several outputs: output name → its expected hash (every output checked) */
  outputHashes?: Record<string, string>;
  /**
   * Host paths the user allowed this derivation to see (a project's sandbox_paths), each with
   * the identity of what it held at evaluation (core/builders/host-access.ts). Present means
   * impure: `bramble build --pure` refuses it.
   */
  hostPaths?: Record<string, string>;
}

export interface OutputRef {
  hash: string;
  output: string;
}

/** lowercase base32 as Nix writes it (no e, o, u, t). */
const NIX_BASE32 = "0123456789abcdfghijklmnpqrsvwxyz";

export function base32(bytes: Uint8Array): string {
  const len = Math.ceil((bytes.length * 8) / 5);
  let out = "";
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    const c = (bytes[i]! >> j) | (i + 1 < bytes.length ? bytes[i + 1]! << (8 - j) : 0);
    out += NIX_BASE32[c & 0x1f];
  }
  return out;
}

/** sha256, truncated to 160 bits, base32: 32 characters. */
export function shortHash(data: string | Uint8Array): string {
  const digest = createHash("sha256").update(data).digest();
  return base32(digest.subarray(0, 20));
}

/** Keys sorted, empty lists/maps/strings, false and undefined left out. */
export function canonicalJSON(value: unknown): string {
  return JSON.stringify(canonicalize(value)) ?? "null";
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === "") return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === "object") return Object.keys(v as object).length === 0;
  return false;
}

function canonicalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalize);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = canonicalize((value as Record<string, unknown>)[key]);
      if (!isEmpty(v)) out[key] = v;
    }
    return out;
  }
  return value;
}

/**
 * canonicalJSON specialised to a Derivation: the same bytes, written field by field in
 * sorted key order, because evaluation hashes every derivation it creates.
 */
export function derivationJSON(drv: Derivation): string {
  const q = JSON.stringify;
  const parts: string[] = [];
  if (drv.args.length > 0) parts.push(`"args":[${drv.args.map((a) => q(a)).join(",")}]`);
  if (drv.builder !== "") parts.push(`"builder":${q(drv.builder)}`);
  if (drv.builderBackend) parts.push(`"builderBackend":${q(drv.builderBackend)}`);
  const envKeys = Object.keys(drv.env).filter((k) => drv.env[k] !== "");
  if (envKeys.length > 0)
    parts.push(
      `"env":{${envKeys
        .sort()
        .map((k) => `${q(k)}:${q(drv.env[k])}`)
        .join(",")}}`,
    );
  if (drv.hostPaths) {
    const paths = Object.keys(drv.hostPaths).sort();
    if (paths.length > 0) parts.push(`"hostPaths":{${paths.map((k) => `${q(k)}:${q(drv.hostPaths![k])}`).join(",")}}`);
  }
  if (drv.name !== "") parts.push(`"name":${q(drv.name)}`);
  if (drv.network) parts.push(`"network":true`);
  if (drv.outputHash) parts.push(`"outputHash":${q(drv.outputHash)}`);
  if (drv.outputHashes && Object.keys(drv.outputHashes).length > 0) parts.push(`"outputHashes":${canonicalJSON(drv.outputHashes)}`);
  if (drv.outputs.length > 0) parts.push(`"outputs":[${drv.outputs.map((o) => q(o)).join(",")}]`);
  if (drv.platform !== "") parts.push(`"platform":${q(drv.platform)}`);
  if (drv.sources) {
    const src = canonicalJSON(drv.sources);
    if (src !== "{}") parts.push(`"sources":${src}`);
  }
  if (drv.system !== "") parts.push(`"system":${q(drv.system)}`);
  return `{${parts.join(",")}}`;
}

export function derivationHash(drv: Derivation): string {
  return shortHash(derivationJSON(drv));
}

export function isFixedOutput(drv: Derivation): boolean {
  return drv.builder === "fetch_url" || drv.builder === "fetch_git" || drv.outputHash !== undefined || drv.outputHashes !== undefined;
}

/** The hash an output of a fixed-output derivation must have: each of several outputs has its own. */
export function expectedOutputHash(drv: Derivation, output: string): string | undefined {
  if (drv.outputHashes) return drv.outputHashes[output];
  return output === drv.outputs[0] ? drv.outputHash : undefined;
}

/** A derivation that sees host paths: its output depends on more than its hash's inputs. */
export function isImpure(drv: Derivation): boolean {
  return !!drv.hostPaths && Object.keys(drv.hostPaths).length > 0;
}

export function isBuiltin(drv: Derivation): drv is Derivation & { builder: BuiltinBuilder } {
  return (BUILTIN_BUILDERS as readonly string[]).includes(drv.builder);
}

/** `{{ <hash>:<output> }}`, the reference a derivation makes to another's output. */
export function outputTemplate(hash: string, output: string): string {
  return `{{ ${hash}:${output} }}`;
}

const TEMPLATE_RE = /\{\{ ([0-9a-z]{32}):([A-Za-z_][A-Za-z0-9_-]*) \}\}/g;

export function findTemplates(text: string): OutputRef[] {
  const refs: OutputRef[] = [];
  for (const m of text.matchAll(TEMPLATE_RE)) refs.push({ hash: m[1]!, output: m[2]! });
  return refs;
}

/** Every output this derivation refers to, found by scanning its fields for templates. */
export function derivationInputs(drv: Derivation): OutputRef[] {
  const seen = new Map<string, OutputRef>();
  const scan = (s: string) => {
    if (!s.includes("{{")) return;
    for (const r of findTemplates(s)) seen.set(`${r.hash}:${r.output}`, r);
  };
  scan(drv.builder);
  drv.args.forEach(scan);
  for (const v of Object.values(drv.env)) scan(v);
  return [...seen.values()];
}

/** Replace each template with what `resolve` returns for it (e.g. a store path). */
export function substituteTemplates(text: string, resolve: (ref: OutputRef) => string): string {
  if (!text.includes("{{")) return text;
  return text.replace(TEMPLATE_RE, (_m, hash: string, output: string) => resolve({ hash, output }));
}
