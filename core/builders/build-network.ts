// A networked (fixed-output) build's way out, fenced like the fetchers' (fetch-proxy.ts): its
// network namespace (sandbox.ts: bwrap, joined to the outside by slirp4netns) reaches the
// network, but no service of this host. slirp4netns makes every connection from this host's
// own namespace, so without a fence a build reached, on this host's LAN address, every service
// listening on all addresses. Before the builder runs, netfilter rules are loaded into the
// build's namespace (iptables-restore, entered with nsenter) that reject:
//   - every address of this host's interfaces (the LAN address, a container bridge's, ...);
//   - slirp4netns's gateway 10.0.2.2 (this host seen from inside; its loopback with
//     --disable-host-loopback off) and link-local 169.254.0.0/16 (cloud metadata services);
//   - unless the address and TCP port are a configured mirror's (mirrors.ts), as for the
//     fetchers: a mirror on this host's loopback is then reached at 10.0.2.2:<its port>
//     (slirp4netns runs without --disable-host-loopback only then, every other port of
//     10.0.2.2 rejected).
// The builder has no capability in its namespace (bwrap --cap-drop ALL, a user namespace it
// cannot leave), so it cannot remove the rules. The namespace's own loopback stays its own.
// IPv6: slirp4netns runs without --enable-ipv6, so the namespace has no IPv6 route out at all.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import { mirrorEndpoints } from "./mirrors.js";

/** slirp4netns's address for this host, seen from inside a build's namespace. */
const GATEWAY = "10.0.2.2";

export interface BuildNetworkFence {
  /** arguments for slirp4netns: --disable-host-loopback unless a mirror listens on this host's loopback */
  slirpArgs: string[];
  /** the iptables-restore input loaded into the build's namespace */
  rules: string;
}

function isLoopback(a: string): boolean {
  return /^127\./.test(a) || a === "::1" || /^::ffff:127\./i.test(a);
}

/** The fence for a build started now: this host's addresses and the configured mirrors as they are now. */
export async function buildNetworkFence(): Promise<BuildNetworkFence> {
  const own = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) if (i.family === "IPv4" && !isLoopback(i.address)) own.add(i.address);
  const accept: string[] = [];
  let hostLoopback = false;
  for (const m of await mirrorEndpoints()) {
    for (const a0 of m.addresses) {
      const a = a0.replace(/^::ffff:/i, "");
      if (isIP(a) !== 4) continue;
      if (isLoopback(a)) {
        hostLoopback = true;
        accept.push(`-A OUTPUT -d ${GATEWAY}/32 -p tcp --dport ${m.port} -j ACCEPT`);
      } else if (own.has(a)) accept.push(`-A OUTPUT -d ${a}/32 -p tcp --dport ${m.port} -j ACCEPT`);
    }
  }
  const reject = [...own, GATEWAY].map((a) => `${a}/32`);
  reject.push("169.254.0.0/16");
  const rules = [
    "*filter",
    ":OUTPUT ACCEPT [0:0]",
    ...new Set(accept),
    // A refused connection fails at once (ECONNREFUSED / EHOSTUNREACH), never by a timeout.
    ...reject.flatMap((r) => [`-A OUTPUT -d ${r} -p tcp -j REJECT --reject-with tcp-reset`, `-A OUTPUT -d ${r} -j REJECT --reject-with icmp-admin-prohibited`]),
    "COMMIT",
    "",
  ].join("\n");
  return { slirpArgs: hostLoopback ? [] : ["--disable-host-loopback"], rules };
}

let restorePath: string | null | undefined;

/** $BRAMBLE_IPTABLES_RESTORE (read at every build), else Debian's iptables-restore. */
function findIptablesRestore(): string | null {
  const given = process.env.BRAMBLE_IPTABLES_RESTORE;
  if (given) return existsSync(given) ? given : null;
  if (restorePath !== undefined) return restorePath;
  for (const p of ["/usr/sbin/iptables-restore", "/sbin/iptables-restore", "/usr/bin/iptables-restore"]) {
    if (existsSync(p)) return (restorePath = p);
  }
  return (restorePath = null);
}

/**
 * Load the fence's rules into the network namespace of process `pid` (the sandbox's, waiting
 * for its network before the builder runs), entered with nsenter. Rejects with the reason when
 * the rules could not be loaded: the build must then not run. Root only: a user without root
 * can enter the sandbox's user namespace, but bwrap maps no root there, so iptables-restore
 * would run without CAP_NET_ADMIN (tried: "Permission denied (you must be root)").
 */
export function applyBuildNetworkFence(pid: number, fence: BuildNetworkFence): Promise<void> {
  const restore = findIptablesRestore();
  if (!restore)
    return Promise.reject(
      new Error("iptables is not installed (apt-get install -y iptables): a networked build's fence against this host's services needs it"),
    );
  if (process.geteuid?.() !== 0)
    return Promise.reject(
      new Error(
        "a networked (fixed-output) build needs bramble to run as root: its fence against this host's services is loaded with iptables into the build's network namespace, which a user without root cannot do (docs/sandbox.md)",
      ),
    );
  return new Promise((ok, fail) => {
    const p = spawn("nsenter", [`--target=${pid}`, "--net", "--", restore], { stdio: ["pipe", "ignore", "pipe"] });
    let err = "";
    p.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
    });
    p.on("error", (e) => fail(new Error(`nsenter: ${e.message}`)));
    p.on("exit", (code, signal) =>
      code === 0 ? ok() : fail(new Error(`loading the network fence failed (${signal ?? `exit ${code}`}): ${err.trim().split("\n").slice(-2).join(" ")}`)),
    );
    p.stdin!.on("error", () => {});
    p.stdin!.end(fence.rules);
  });
}
