// Built-in fixed-output builders. What touches the network runs in a sandbox with a network
// namespace of its own, whose one way out is the engine's proxy, and nothing of the host's files
// (fetch-sandbox.ts, fetch-proxy.ts); a file:// URL or a local git repository
// must lie in the project or a directory the user named (host-access.ts); the engine unpacks
// and hashes the fetched bytes afterwards.
//   fetch_url  url = env.url or args[0]; http, https, file or mirror://<name>/ (see mirrors.ts).
//              Archives (tar, tar.gz/xz/zst, zip, .deb: see store/unpack.ts) are unpacked into
//              $out (a single top-level directory of a tar or zip is stripped); any other file
//              is saved as $out/<basename of the URL> (or env.name); a file:// directory is
//              copied as it is (symlinks stay links). env.urls (one URL a line) unpacks several
//              archives into one $out, nothing stripped (several .debs as one tree).
//   fetch_git  url = env.url or args[0], ref = env.ref or args[1] (default HEAD); the
//              checked-out tree without .git. Neither may start with '-'.
// The output hash is checked against drv.outputHash; with none, it is reported.
import { copyFileSync, cpSync, lstatSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BackendInfo } from "../model/types.js";
import type { Derivation } from "../derivation/derivation.js";
import { randomHashPart, removeTree, type LocalStore } from "../store/store.js";
import { archiveKind, unpackArchive } from "../store/unpack.js";
import { BuildFailure, hostSystem, outputName, type Backend, type BuildJob, type BuildOutcome } from "./backend.js";
import { makeTempRoot } from "./local.js";
import { isMirrorUrl, mirrorBase, resolveMirrorUrl } from "./mirrors.js";
import { allowedFileUrlPath } from "./host-access.js";
import { gitThroughProxy, runFetchSandbox, sandboxedDownload, toolBinds } from "./fetch-sandbox.js";

/** A mirror:// URL whose configured base is a file:// directory: that directory may be read. */
function fileMirrorRoots(url: string): string[] {
  if (!isMirrorUrl(url)) return [];
  const base = mirrorBase(new URL(url).host).base;
  return base.startsWith("file://") ? [fileURLToPath(base)] : [];
}

function param(drv: Derivation, key: string, index: number): string | undefined {
  return drv.env[key] ?? drv.args[index];
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
        // Only the project and the directories the user named (a file:// mirror) may be read.
        const from = allowedFileUrlPath(fileURLToPath(u), job.projectRoot, fileMirrorRoots(named));
        if (lstatSync(from).isDirectory()) {
          if (urls.length > 1) throw new BuildFailure(`fetch_url ${drv.name}: ${named} is a directory; only one directory can be fetched at a time`);
          cpSync(from, out, { recursive: true, verbatimSymlinks: true });
          return;
        }
        copyFileSync(from, file);
      } else {
        // The download runs in a sandbox of its own: the network and nothing of the host (fetch-sandbox.ts).
        mkdirSync(dirname(file), { recursive: true });
        await sandboxedDownload(real, dirname(file), basename(file), job);
      }
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
    // Neither can become an option of git's.
    if (url.startsWith("-")) throw new BuildFailure(`fetch_git ${drv.name}: url ${JSON.stringify(url)} may not start with '-'`);
    if (ref.startsWith("-") || /[\s\0]/.test(ref))
      throw new BuildFailure(`fetch_git ${drv.name}: ref ${JSON.stringify(ref)} may not start with '-' or hold whitespace`);
    // git runs in a sandbox with nothing of the host but git (fetch-sandbox.ts); a
    // local repository (a path or file://) must be inside the project or [fetch] file_roots, and
    // is the one host directory it sees, read-only.
    const readOnly: [string, string][] = [];
    let remote = url;
    if (url.startsWith("/") || url.startsWith("file://")) {
      const repo = allowedFileUrlPath(url.startsWith("/") ? url : fileURLToPath(url), job.projectRoot);
      readOnly.push([repo, "/repo"]);
      remote = "/repo";
    } else if (!/^(https?|git|ssh):\/\//.test(url)) {
      throw new BuildFailure(`fetch_git ${drv.name}: url ${JSON.stringify(url)} must be https://, http://, git://, ssh://, file:// or an absolute path`);
    }
    mkdirSync(out, { recursive: true });
    // A local repository needs no network: its sandbox has only `lo`. A remote one goes out
    // through the engine's proxy (fetch-proxy.ts): git's libcurl through a forwarder on the
    // sandbox's own loopback (node), git:// through GIT_PROXY_COMMAND.
    const network = remote !== "/repo";
    const net = network ? gitThroughProxy() : undefined;
    // git starts git-upload-pack of a local repository through /bin/sh.
    const binds = toolBinds(["/usr/bin/git", "/bin/sh", ...(network ? [process.execPath] : [])], ["/usr/lib/git-core"]);
    const env: Record<string, string> = {
      ...net?.env,
      PATH: "/usr/bin:/usr/lib/git-core",
      GIT_TERMINAL_PROMPT: "0",
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_ALLOW_PROTOCOL: "http:https:git:ssh:file",
      LC_ALL: "C",
    };
    let last = "";
    const git = async (args: string[]) => {
      const r = await runFetchSandbox({
        out,
        binds,
        readOnly,
        network,
        files: net?.files,
        env,
        command: [...(net?.wrap ?? []), "/usr/bin/git", "-c", "advice.detachedHead=false", "-c", "safe.directory=*", ...(net?.config ?? []), ...args],
        log: (l) => {
          if (l.trim()) last = l;
          job.log(l);
        },
        signal: job.signal,
      });
      if (r.cancelled) throw new BuildFailure("cancelled", null, undefined, true);
      if (r.exitCode !== 0) {
        // What the proxy refused says more than git's "returned error: 403".
        const why = r.refusals.length ? r.refusals.join("; ") : last;
        throw new BuildFailure(`git ${args.find((a) => !a.startsWith("-"))} failed (exit code ${r.exitCode})${why ? `: ${why}` : ""}`, r.exitCode);
      }
    };
    job.log(`fetching ${url} at ${ref}`);
    await git(["clone", "--quiet", "--no-checkout", "--no-hardlinks", "--template=", "--", remote, "/out/src"]);
    await git(["-C", "/out/src", "checkout", "--quiet", ref, "--"]);
    await git(["-C", "/out/src", "log", "-1", "--format=checked out %H"]);
    rmSync(join(out, "src", ".git"), { recursive: true, force: true });
    renameSync(join(out, "src"), `${out}.src`);
    rmSync(out, { recursive: true, force: true });
    renameSync(`${out}.src`, out);
  }
}
