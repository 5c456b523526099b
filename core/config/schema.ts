// The config files, as zod schemas: bramble.toml (a project's), bramble.lock, and the user's
// config. Every error names the file, the key (as a dotted path) and what is wrong; a TOML
// syntax error also names the line and column.
import { isAbsolute } from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import { z } from "zod";
import { readRegularFile } from "../project/read-file.js";

/** A config file that cannot be used: the file, the key, the problem, and the place if known. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly key: string | undefined,
    readonly problem: string,
    readonly line?: number,
    readonly col?: number,
  ) {
    super(`${file}${line ? `:${line}:${col ?? 1}` : ""}: ${key ? `${key} ` : ""}${problem}`);
  }
}

const str = (what = "a string") => z.string({ error: `must be ${what}` });
const absolutePaths = z
  .array(z.unknown(), { error: "must be a list of absolute paths" })
  .refine((l) => l.every((p) => typeof p === "string" && isAbsolute(p)), { error: "must be a list of absolute paths" })
  .transform((l) => l as string[]);
const table = <T extends z.ZodRawShape>(shape: T) => z.object(shape, { error: "must be a table" }).loose();
const tableOf = <T extends z.ZodType>(value: T) => z.record(z.string(), value, { error: "must be a table" });
const positive = (what: string) => z.number({ error: `must be a positive number of ${what}` }).positive({ error: `must be a positive number of ${what}` });

/** `[backends.<name>]`: kind plus kind-specific keys, which the backend's factory checks. */
const backendTable = table({ kind: str().optional() });

// A Docker volume name: it must not be a host path (that would be a bind mount) or carry a mode.
export const dockerVolumeName = str("a Docker volume name").regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, {
  error: "must be a Docker volume name (letters, digits, _ . -; not a path)",
});

const packageTable = table({
  name: str().min(1, { error: "must not be empty" }),
  version: str().optional(),
});

// bramble itself names the table [module] (its own repository's bramble.toml); [package] is ours.
export const ProjectToml = table({
  package: packageTable.optional(),
  module: packageTable.optional(),
  dependencies: tableOf(
    z.union([str(), table({ version: str().optional(), path: str().optional() })], { error: 'must be a version string or a table { path = "..." }' }),
  ).optional(),
  build: table({ sandbox_paths: absolutePaths.optional(), timeout: positive("seconds").optional() }).optional(),
  sandbox_paths: absolutePaths.optional(),
  timeout: positive("seconds").optional(),
  backends: tableOf(backendTable).optional(),
}).superRefine((doc, ctx) => {
  if (!doc.package && !doc.module)
    ctx.addIssue({ code: "custom", path: ["package"], message: 'is missing: a [package] table (or [module], as bramble writes it) with name = "..."' });
  if (doc.package && doc.module) ctx.addIssue({ code: "custom", path: ["module"], message: "and [package] are the same table: give one of them" });
});
export type ProjectToml = z.infer<typeof ProjectToml>;

export const LockToml = table({
  urlhashes: tableOf(str("a hash string")).optional(),
  /** `"<package>@<version>" = "sha256:..."`: the tree each dependency by version was fetched as */
  dependencies: tableOf(str("a hash string")).optional(),
});

export const UserConfigToml = table({
  backends: tableOf(backendTable).optional(),
  sandbox: table({ allowed_paths: absolutePaths.optional() }).optional(),
  fetch: table({ file_roots: absolutePaths.optional() }).optional(),
  mirrors: tableOf(str("a URL")).optional(),
  /** where packages by version are fetched from: `"<name prefix>" = "<git base URL>"` (core/project/dependencies.ts) */
  packages: tableOf(str("a URL")).optional(),
  evaluation: table({
    timeout: positive("seconds").optional(),
    max_steps: z
      .number({ error: "must be a positive whole number" })
      .int({ error: "must be a positive whole number" })
      .positive({ error: "must be a positive whole number" })
      .optional(),
  }).optional(),
});
export type UserConfigToml = z.infer<typeof UserConfigToml>;

/** The key of an issue as TOML spells it: `package.name`, `backends.box.port`, `sandbox_paths[2]`. */
function keyOf(path: PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : `${out ? "." : ""}${String(p)}`;
  return out;
}

/** Parse TOML text and check it against `schema`; throws ConfigError naming the file and key. */
export function parseConfig<S extends z.ZodType>(schema: S, text: string, file: string): z.infer<S> {
  let doc: unknown;
  try {
    doc = parseToml(text);
  } catch (err) {
    if (err instanceof TomlError) {
      const first = err.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "");
      throw new ConfigError(file, undefined, first, err.line, err.column);
    }
    throw new ConfigError(file, undefined, (err as Error).message);
  }
  const r = schema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const key = keyOf(issue.path);
    // A missing table or key reads better as "needs".
    let at: unknown = doc;
    for (const k of issue.path) at = at === null || typeof at !== "object" ? undefined : (at as Record<PropertyKey, unknown>)[k];
    const missing = issue.code === "invalid_type" && at === undefined;
    throw new ConfigError(file, key || undefined, missing ? `is missing (${issue.message.replace(/^must be /, "it must be ")})` : issue.message);
  }
  return r.data;
}

/** Read and check a config file (a regular file: never a FIFO or a device). */
export function readConfigFile<S extends z.ZodType>(schema: S, file: string): z.infer<S> {
  let text: string;
  try {
    text = readRegularFile(file, "config file");
  } catch (err) {
    throw new ConfigError(file, undefined, `cannot be read: ${(err as Error).message}`);
  }
  return parseConfig(schema, text, file);
}
