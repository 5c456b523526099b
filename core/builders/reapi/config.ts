// `[backends.<name>] kind = "reapi"` tables (the user's config file or bramble.toml):
//   endpoint = "grpc://127.0.0.1:8980"       # grpcs:// for TLS; host:port is plain
//   instance_name = "main"                   # optional
//   tls = { ca = "/etc/ca.pem", cert = "client.pem", key = "client.key" }   # optional (grpcs)
//   headers = { authorization = "Bearer …" } # optional, sent with every call
//   actions_in_flight = 64                   # optional
//   remote_cache = true                      # optional: local builds upload their results
//   retry_seconds = 60                       # optional: how long transient failures are retried
//   [backends.<name>.platform_properties."x86_64-linux"]   # one table per system offered
//   ISA = "x86-64"
//   OSFamily = "linux"
import type { LocalStore } from "../../store/store.js";
import { hostSystem } from "../backend.js";
import { defaultPlatformProperties, ReapiBackend, type ReapiBackendOptions } from "./backend.js";

/** A mistake in a reapi table, naming the field. */
export class ReapiConfigError extends Error {}

type Table = Record<string, unknown> & { name: string; kind: string };

function field<T>(c: Table, key: string, check: (v: unknown) => v is T, what: string): T | undefined {
  const v = c[key];
  if (v === undefined) return undefined;
  if (!check(v)) throw new ReapiConfigError(`backends.${c.name}.${key} must be ${what}`);
  return v;
}
const isStr = (v: unknown): v is string => typeof v === "string";
const isNum = (v: unknown): v is number | bigint => typeof v === "number" || typeof v === "bigint";
const isBool = (v: unknown): v is boolean => typeof v === "boolean";
const isTable = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const KNOWN = new Set([
  "name",
  "kind",
  "endpoint",
  "instance_name",
  "tls",
  "headers",
  "actions_in_flight",
  "remote_cache",
  "retry_seconds",
  "platform_properties",
  "systems",
]);

export function reapiOptions(c: Table): ReapiBackendOptions {
  for (const k of Object.keys(c))
    if (!KNOWN.has(k)) throw new ReapiConfigError(`backends.${c.name}: unknown setting ${k} (known: ${[...KNOWN].slice(2).join(", ")})`);
  const endpoint = field(c, "endpoint", isStr, 'a string ("grpc://host:port")');
  if (!endpoint) throw new ReapiConfigError(`backend ${c.name} (kind reapi) needs endpoint = "grpc://host:port"`);
  const tls = field(c, "tls", isTable, "a table { ca, cert, key }");
  for (const [k, v] of Object.entries(tls ?? {})) {
    if (!["ca", "cert", "key"].includes(k)) throw new ReapiConfigError(`backends.${c.name}.tls.${k}: unknown (known: ca, cert, key)`);
    if (!isStr(v)) throw new ReapiConfigError(`backends.${c.name}.tls.${k} must be a file name`);
  }
  const headers = field(c, "headers", isTable, "a table of strings");
  for (const [k, v] of Object.entries(headers ?? {})) if (!isStr(v)) throw new ReapiConfigError(`backends.${c.name}.headers.${k} must be a string`);
  const inFlight = field(c, "actions_in_flight", isNum, "a number");
  if (inFlight !== undefined && !(Number(inFlight) >= 1)) throw new ReapiConfigError(`backends.${c.name}.actions_in_flight must be at least 1`);
  const retrySeconds = field(c, "retry_seconds", isNum, "a number of seconds");
  if (retrySeconds !== undefined && !(Number(retrySeconds) >= 0)) throw new ReapiConfigError(`backends.${c.name}.retry_seconds must be 0 or more`);
  const props = field(c, "platform_properties", isTable, 'a table of systems, e.g. { "x86_64-linux" = { ISA = "x86-64" } }');
  const systems = field(c, "systems", (v): v is string[] => Array.isArray(v) && v.every(isStr), "a list of systems");
  const platformProperties: Record<string, Record<string, string>> = {};
  for (const [sys, p] of Object.entries(props ?? {})) {
    if (!/^[a-z0-9_]+-[a-z0-9]+$/.test(sys)) throw new ReapiConfigError(`backends.${c.name}.platform_properties: "${sys}" is not a system (<arch>-<os>)`);
    if (!isTable(p)) throw new ReapiConfigError(`backends.${c.name}.platform_properties."${sys}" must be a table of strings`);
    for (const [k, v] of Object.entries(p)) if (!isStr(v)) throw new ReapiConfigError(`backends.${c.name}.platform_properties."${sys}".${k} must be a string`);
    platformProperties[sys] = p as Record<string, string>;
  }
  for (const s of systems ?? []) platformProperties[s] ??= defaultPlatformProperties(s);
  if (!Object.keys(platformProperties).length) platformProperties[hostSystem()] = defaultPlatformProperties(hostSystem());
  return {
    name: c.name,
    endpoint,
    instanceName: field(c, "instance_name", isStr, "a string"),
    ...(tls ? { tls: tls as ReapiBackendOptions["tls"] } : {}),
    ...(headers ? { headers: headers as Record<string, string> } : {}),
    ...(inFlight !== undefined ? { actionsInFlight: Number(inFlight) } : {}),
    uploadLocalResults: field(c, "remote_cache", isBool, "true or false") ?? false,
    ...(retrySeconds !== undefined ? { retrySeconds: Number(retrySeconds) } : {}),
    platformProperties,
  };
}

export function reapiBackendFromConfig(c: Table, store: LocalStore): ReapiBackend {
  return new ReapiBackend(store, reapiOptions(c));
}
