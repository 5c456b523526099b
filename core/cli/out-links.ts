// Nix's result symlinks: `bramble build -o result` (default name `result`) makes `result` point
// at the first root's output, `result-dev` at its `dev` output, and `result-2`, `result-2-dev`
// at the second root's. Making them, as indirect gc roots, is the engine's: core/store/out-links.ts.

/** The link names for roots' outputs: base, base-dev, base-2, base-2-dev. */
export function outLinkNames(base: string, roots: Record<string, string>[]): { link: string; target: string }[] {
  const out: { link: string; target: string }[] = [];
  roots.forEach((outputs, i) => {
    const stem = i === 0 ? base : `${base}-${i + 1}`;
    for (const [output, path] of Object.entries(outputs)) out.push({ link: output === "out" ? stem : `${stem}-${output}`, target: path });
  });
  return out;
}
