// Which backends an engine has besides `local`: the defaults (qemu, and docker on the usual
// socket), the user's config file, and a project's `[backends.<name>]` tables. Same table
// format everywhere:
//   [backends.arm]      kind = "qemu"    systems = ["aarch64-linux"]
//   [backends.docker]   kind = "docker"  image = "..." socket = "/run/podman/podman.sock"
//   [backends.box]      kind = "ssh"     host = "..." port = 22 user = "..." identity = "..." store = "/var/bramble"
// A later definition of a name replaces an earlier one (project over user over defaults).
import { existsSync } from "node:fs";
import { dockerVolumeName, readConfigFile, UserConfigToml } from "../config/schema.js";
import type { LocalStore } from "../store/store.js";
import type { Backend } from "./backend.js";
import { DockerBackend } from "./docker.js";
import { QemuBackend } from "./qemu.js";
import { reapiBackendFromConfig } from "./reapi/config.js";
import { SshBackend } from "./ssh.js";
import { userConfigFile } from "./host-access.js";

export interface BackendConfig {
  name: string;
  kind: string;
  [key: string]: unknown;
}

export class BackendConfigError extends Error {}

export { userConfigFile };

/** `[backends.<name>]` tables of the user's config file (none if the file does not exist). */
export function readBackendConfigs(file = userConfigFile()): BackendConfig[] {
  if (!existsSync(file)) return [];
  let doc: UserConfigToml;
  try {
    doc = readConfigFile(UserConfigToml, file);
  } catch (e) {
    throw new BackendConfigError((e as Error).message);
  }
  return Object.entries(doc.backends ?? {}).map(([name, t]) => ({ ...t, name, kind: t.kind ?? name }));
}

export function str(c: BackendConfig, key: string, required = false): string | undefined {
  const v = c[key];
  if (v === undefined) {
    if (required) throw new BackendConfigError(`backend ${c.name} (kind ${c.kind}) needs ${key} = "..."`);
    return undefined;
  }
  if (typeof v !== "string") throw new BackendConfigError(`backends.${c.name}.${key} must be a string`);
  return v;
}

/** `volume`: a Docker volume name, never a host path (that would bind the host into every build). */
function dockerVolume(c: BackendConfig): string | undefined {
  const v = str(c, "volume");
  if (v === undefined) return undefined;
  const r = dockerVolumeName.safeParse(v);
  if (!r.success) throw new BackendConfigError(`backends.${c.name}.volume ${r.error.issues[0]!.message}, not ${JSON.stringify(v)}`);
  return v;
}

export function num(c: BackendConfig, key: string): number | undefined {
  const v = c[key];
  if (v === undefined) return undefined;
  if (typeof v !== "number" && typeof v !== "bigint") throw new BackendConfigError(`backends.${c.name}.${key} must be a number`);
  return Number(v);
}

export function strList(c: BackendConfig, key: string): string[] | undefined {
  const v = c[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw new BackendConfigError(`backends.${c.name}.${key} must be a list of strings`);
  return v as string[];
}

export interface BackendContext {
  store: LocalStore;
}

type Factory = (c: BackendConfig, ctx: BackendContext) => Backend;

const factories: Record<string, Factory> = {
  qemu: (c, ctx) => new QemuBackend(ctx.store, c.name, strList(c, "systems")),
  docker: (c, ctx) =>
    new DockerBackend(ctx.store, {
      name: c.name,
      socket: str(c, "socket") ?? str(c, "host"),
      image: str(c, "image"),
      volume: dockerVolume(c),
      systems: strList(c, "systems"),
    }),
  ssh: (c, ctx) =>
    new SshBackend(ctx.store, {
      name: c.name,
      host: str(c, "host", true)!,
      port: num(c, "port"),
      user: str(c, "user"),
      identity: str(c, "identity"),
      knownHosts: str(c, "known_hosts"),
      connectTimeout: num(c, "connect_timeout"),
      storeRoot: str(c, "store"),
      systems: strList(c, "systems"),
    }),
};

// Remote Execution API services (docs/remote.md).
factories.reapi = (c, ctx) => reapiBackendFromConfig(c, ctx.store);

export function registerBackendKind(kind: string, f: Factory): void {
  factories[kind] = f;
}

export function makeBackend(c: BackendConfig, ctx: BackendContext): Backend {
  const f = factories[c.kind];
  if (!f) throw new BackendConfigError(`backend ${c.name}: unknown kind "${c.kind}" (known: local, ${Object.keys(factories).join(", ")})`);
  return f(c, ctx);
}

/** The defaults every engine has: qemu, and docker when that kind is registered. */
export function defaultBackendConfigs(): BackendConfig[] {
  const d: BackendConfig[] = [{ name: "qemu", kind: "qemu" }];
  if (factories.docker) d.push({ name: "docker", kind: "docker" });
  return d;
}

/** Merge configs by name, later ones winning, keeping first-seen order. */
function merge(...lists: BackendConfig[][]): BackendConfig[] {
  const byName = new Map<string, BackendConfig>();
  for (const l of lists) for (const c of l) byName.set(c.name, c);
  return [...byName.values()];
}

/**
 * The backends after `local`, from the defaults and the user's config file. A broken config
 * file does not stop the engine: it becomes an unavailable backend that says why.
 */
export function configuredBackends(ctx: BackendContext, extra: BackendConfig[] = []): Backend[] {
  let user: BackendConfig[] = [];
  const broken: Backend[] = [];
  try {
    user = readBackendConfigs();
  } catch (e) {
    broken.push(unavailableBackend("config", "config", (e as Error).message, ctx));
  }
  const out: Backend[] = [];
  for (const c of merge(defaultBackendConfigs(), user, extra)) {
    if (c.kind === "local") continue;
    try {
      out.push(makeBackend(c, ctx));
    } catch (e) {
      out.push(unavailableBackend(c.name, c.kind, (e as Error).message, ctx));
    }
  }
  return [...out, ...broken];
}

/**
 * A project's backends: `base` (the engine's, `local` first) with the project's
 * `[backends.<name>]` tables added, or replacing a same-named one. A new list: `base` and
 * other projects' lists are left as they are.
 */
export function projectBackends(base: Backend[], configs: BackendConfig[], ctx: BackendContext): Backend[] {
  const out = [...base];
  for (const c of configs) {
    if (c.kind === "local") continue;
    let b: Backend;
    try {
      b = makeBackend(c, ctx);
    } catch (e) {
      b = unavailableBackend(c.name, c.kind, (e as Error).message, ctx);
    }
    const at = out.findIndex((x) => x.name === c.name);
    if (at >= 0) out[at] = b;
    else out.push(b);
  }
  return out;
}

function unavailableBackend(name: string, kind: string, reason: string, ctx: BackendContext): Backend {
  return {
    name,
    kind,
    store: ctx.store,
    platforms: () => [],
    availability: () => ({ available: false, reason }),
    info: () => ({ name, kind, platforms: [], available: false, reason }),
    build: async () => {
      const { BuildFailure } = await import("./backend.js");
      throw new BuildFailure(`backend ${name}: ${reason}`);
    },
  };
}
