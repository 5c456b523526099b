// Built-in fixed-output builders, run by the engine itself with network access:
//   fetch_url  url = env.url or args[0]; http, https, file or mirror://<name>/ (see mirrors.ts).
//              Archives (tar, tar.gz/xz/zst, zip, .deb: see store/unpack.ts) are unpacked into
//              $out (a single top-level directory of a tar or zip is stripped); any other file
//              is saved as $out/<basename of the URL> (or env.name); a file:// directory is
//              copied as it is (symlinks stay links). env.urls (one URL a line) unpacks several
//              archives into one $out, nothing stripped (several .debs as one tree).
//   fetch_git  url = env.url or args[0], ref = env.ref or args[1] (default HEAD); the
//              checked-out tree without .git.
// The output hash is checked against drv.outputHash; with none, it is reported.
import { spawn } from "node:child_process";
import { createWriteStream, copyFileSync, cpSync, lstatSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { get as httpGet, type IncomingMessage } from "node:http";
import { get as httpsGet } from "node:https";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BackendInfo } from "../model/types.js";
import type { Derivation } from "../derivation/derivation.js";
import { randomHashPart, removeTree, type LocalStore } from "../store/store.js";
import { archiveKind, unpackArchive } from "../store/unpack.js";
import { BuildFailure, hostSystem, outputName, type Backend, type BuildJob, type BuildOutcome } from "./backend.js";
import { makeTempRoot } from "./local.js";
import { resolveMirrorUrl } from "./mirrors.js";
import { runLogged } from "./run.js";

function param(drv: Derivation, key: string, index: number): string | undefined {
  return drv.env[key] ?? drv.args[index];
}

function download(url: string, dest: string, signal: AbortSignal, log: (l: string) => void, redirects = 10): Promise<void> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const getter = u.protocol === "https:" ? httpsGet : u.protocol === "http:" ? httpGet : undefined;
    if (!getter) return reject(new Error(`unsupported URL scheme ${u.protocol} (http, https and file are)`));
    const req = getter(u, { signal, headers: { "user-agent": "bramble" } }, (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects <= 0) return reject(new Error(`too many redirects fetching ${url}`));
        const next = new URL(res.headers.location, u).toString();
        log(`redirected to ${next}`);
        download(next, dest, signal, log, redirects - 1).then(resolve, reject);
        return;
      }
      if (status !== 200) {
        res.resume();
        return reject(new Error(`fetching ${url}: HTTP ${status} ${res.statusMessage ?? ""}`.trim()));
      }
      const out = createWriteStream(dest, { mode: 0o644 });
      res.pipe(out);
      res.on("error", reject);
      out.on("error", reject);
      out.on("finish", () => resolve());
    });
    req.on("error", reject);
  });
}

export class BuiltinBackend implements Backend {
  readonly name = "builtin";
  readonly kind = "builtin";

  constructor(readonly store: LocalStore) {}

  platforms(): string[] {
    return [hostSystem()];
  }

  availability(): { available: boolean } {
    return { available: true };
  }

  info(): BackendInfo {
    return { name: this.name, kind: this.kind, platforms: this.platforms(), available: true };
  }

  async build(job: BuildJob): Promise<BuildOutcome> {
    const { drv } = job;
    const root = makeTempRoot(this.store.layout.tmpDir, `f${job.buildId}`);
    const out = join(root, "out");
    try {
      if (drv.builder === "fetch_url") await this.fetchUrl(drv, root, out, job);
      else if (drv.builder === "fetch_git") await this.fetchGit(drv, root, out, job);
      else throw new BuildFailure(`the built-in ${drv.builder} is not implemented by the engine`);
      const o = drv.outputs[0] ?? "out";
      const outputs = await this.store.addOutputs(
        [{ output: o, tmpPath: out, name: outputName(drv, o), expectHash: drv.outputHash, tmpHash: randomHashPart() }],
        new Map(),
        job.drvHash,
        job.register,
      );
      return { outputs };
    } catch (e) {
      if (e instanceof BuildFailure) throw e;
      if (job.signal.aborted) throw new BuildFailure("cancelled", null, undefined, true);
      throw new BuildFailure((e as Error).message);
    } finally {
      removeTree(root);
    }
  }

  private async fetchUrl(drv: Derivation, root: string, out: string, job: BuildJob): Promise<void> {
    const many = drv.env.urls?.split("\n").filter((u) => u !== "");
    const url = param(drv, "url", 0);
    if (!many?.length && !url) throw new BuildFailure(`fetch_url ${drv.name}: no url (set env.url or args[0])`);
    const urls = many?.length ? many : [url!];
    for (const [i, named] of urls.entries()) {
      const real = resolveMirrorUrl(named);
      const u = new URL(real);
      const fileName = (urls.length === 1 ? drv.env.name : undefined) ?? (basename(decodeURIComponent(u.pathname)) || "download");
      const file = join(root, `download-${i}`);
      job.log(real === named ? `fetching ${real}` : `fetching ${named} from ${real}`);
      if (u.protocol === "file:") {
        const from = fileURLToPath(u);
        if (lstatSync(from).isDirectory()) {
          if (urls.length > 1) throw new BuildFailure(`fetch_url ${drv.name}: ${named} is a directory; only one directory can be fetched at a time`);
          cpSync(from, out, { recursive: true, verbatimSymlinks: true });
          return;
        }
        copyFileSync(from, file);
      } else await download(real, file, job.signal, job.log);
      job.log(`fetched ${lstatSync(file).size} bytes`);
      const kind = archiveKind(fileName);
      if (kind && drv.env.unpack !== "false") {
        await unpackArchive(file, out, kind, urls.length > 1 ? { strip: false } : {});
        rmSync(file);
      } else {
        mkdirSync(out, { recursive: true });
        renameSync(file, join(out, basename(fileName)));
      }
    }
  }

  private async fetchGit(drv: Derivation, _root: string, out: string, job: BuildJob): Promise<void> {
    const url = param(drv, "url", 0);
    const ref = param(drv, "ref", 1) ?? "HEAD";
    if (!url) throw new BuildFailure(`fetch_git ${drv.name}: no url (set env.url or args[0])`);
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/",
      GIT_TERMINAL_PROMPT: "0",
      GIT_CONFIG_NOSYSTEM: "1",
      LC_ALL: "C",
    };
    const git = async (args: string[]) => {
      const r = await runLogged(["git", ...args], { env, log: job.log, signal: job.signal });
      if (r.cancelled) throw new BuildFailure("cancelled", null, undefined, true);
      if (r.exitCode !== 0) throw new BuildFailure(`git ${args[0]} failed (exit code ${r.exitCode})`, r.exitCode);
    };
    job.log(`fetching ${url} at ${ref}`);
    await git(["-c", "advice.detachedHead=false", "clone", "--quiet", "--no-checkout", "--", url, out]);
    await git(["-C", out, "-c", "advice.detachedHead=false", "checkout", "--quiet", ref, "--"]);
    const head = spawnText(["git", "-C", out, "rev-parse", "HEAD"], env);
    job.log(`checked out ${await head}`);
    rmSync(join(out, ".git"), { recursive: true, force: true });
  }
}

function spawnText(argv: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve) => {
    const c = spawn(argv[0]!, argv.slice(1), { env, stdio: ["ignore", "pipe", "ignore"] });
    let s = "";
    c.stdout.on("data", (d: Buffer) => (s += d.toString()));
    c.on("close", () => resolve(s.trim()));
    c.on("error", () => resolve(""));
  });
}
