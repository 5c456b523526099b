// How the CLI shows a derivation's name: with its system whenever another derivation shown
// beside it has the same name (progress lines, results, history). Naming a derivation on the
// command line (a name, a hash or a unique prefix) is the engine's: core/db/naming.ts.

/** "name" alone when no other derivation in `all` has this name, else "name (system)". */
export function displayName(name: string, system: string | undefined, all: Iterable<{ name: string; system?: string }>): string {
  if (!system) return name;
  let systems = 0;
  const seen = new Set<string>();
  for (const d of all) {
    if (d.name === name && d.system && !seen.has(d.system)) {
      seen.add(d.system);
      systems++;
    }
  }
  return systems > 1 ? `${name} (${system})` : name;
}
