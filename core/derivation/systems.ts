// System strings: `<arch>-<os>`, and what this machine is.
import { arch as nodeArch, platform as nodePlatform } from "node:os";

export const KNOWN_ARCHES = ["x86_64", "aarch64", "i686", "armv7l", "riscv64", "ppc64le", "s390x", "wasm32"];
export const KNOWN_OSES = ["linux", "darwin", "windows", "freebsd", "wasi"];
/** The system of derivations that run in the engine and whose output suits any system (fetches). */
export const ANY_SYSTEM = "any";

export function hostSystem(): string {
  const arch =
    { x64: "x86_64", arm64: "aarch64", ia32: "i686", arm: "armv7l", riscv64: "riscv64", ppc64: "ppc64le", s390x: "s390x" }[nodeArch() as string] ?? nodeArch();
  const os = { win32: "windows", darwin: "darwin", linux: "linux", freebsd: "freebsd" }[nodePlatform() as string] ?? nodePlatform();
  return `${arch}-${os}`;
}

export function splitSystem(system: string): { arch: string; os: string } {
  const i = system.indexOf("-");
  return { arch: system.slice(0, i), os: system.slice(i + 1) };
}

function closest(word: string, options: string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  for (const o of options) {
    const d = editDistance(word, o);
    if (d < bestDist) [best, bestDist] = [o, d];
  }
  return bestDist <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

/** Undefined if the system is valid, else why not (with a suggestion). */
export function checkSystem(system: string): string | undefined {
  if (system === ANY_SYSTEM) return undefined;
  const { arch, os } = splitSystem(system);
  if (!system.includes("-") || !arch || !os) {
    return `unknown system "${system}": a system is <arch>-<os>, such as x86_64-linux or aarch64-darwin`;
  }
  const problems: string[] = [];
  if (!KNOWN_ARCHES.includes(arch)) {
    const s = closest(arch, KNOWN_ARCHES);
    problems.push(`unknown architecture "${arch}"${s ? ` (did you mean "${s}"?)` : ""}`);
  }
  if (!KNOWN_OSES.includes(os)) {
    const s = closest(os, KNOWN_OSES);
    problems.push(`unknown operating system "${os}"${s ? ` (did you mean "${s}"?)` : ""}`);
  }
  if (problems.length === 0) return undefined;
  return `unknown system "${system}": ${problems.join(", ")}; known architectures: ${KNOWN_ARCHES.join(", ")}; known operating systems: ${KNOWN_OSES.join(", ")}`;
}
