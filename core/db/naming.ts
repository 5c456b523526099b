// One way to name a derivation, for every verb that takes one (log, history, shell,
// store path, why-depends, build --rebuild): a name, a full hash, or a unique hash prefix.
// A name that several systems' derivations share is ambiguous: the candidates are listed with
// their systems. Versions of one name for one system (an edited recipe) are not: the newest
// is meant, as the latest evaluation made it.
import type { Db } from "./db.js";

export interface NamedDerivation {
  hash: string;
  name: string;
  system: string;
}

/** A query that names no derivation, or several: exit code 1, the message says which. */
export class DerivationNameError extends Error {}

interface Row {
  hash: string;
  name: string;
  system: string;
  created_at: number;
}

function candidates(rows: Row[]): string {
  return rows.map((r) => `  ${r.hash}  ${r.name}  ${r.system}`).join("\n");
}

/** The derivation `query` names, or a DerivationNameError saying why none or which ones. */
export function resolveDerivation(db: Db, query: string): NamedDerivation {
  const q = query.trim();
  if (q === "") throw new DerivationNameError("give a derivation name, hash or hash prefix");
  const pick = (r: Row): NamedDerivation => ({ hash: r.hash, name: r.name, system: r.system });
  if (/^[0-9a-z]{32}$/.test(q)) {
    const r = db.sql.prepare("SELECT hash, name, system, created_at FROM derivations WHERE hash = ?").get(q) as Row | undefined;
    if (r) return pick(r);
  }
  const named = db.sql.prepare("SELECT hash, name, system, created_at FROM derivations WHERE name = ? ORDER BY created_at DESC, rowid DESC").all(q) as Row[];
  if (named.length > 0) {
    // the newest of each system
    const bySystem = new Map<string, Row>();
    for (const r of named) if (!bySystem.has(r.system)) bySystem.set(r.system, r);
    if (bySystem.size === 1) return pick(named[0]!);
    throw new DerivationNameError(
      `"${q}" names derivations for ${bySystem.size} systems; give a hash (or a unique prefix):\n${candidates([...bySystem.values()])}`,
    );
  }
  if (/^[0-9a-z]{1,31}$/.test(q)) {
    const hits = db.sql
      .prepare("SELECT hash, name, system, created_at FROM derivations WHERE hash LIKE ? ORDER BY created_at DESC LIMIT 21")
      .all(`${q}%`) as Row[];
    if (hits.length === 1) return pick(hits[0]!);
    if (hits.length > 1) {
      const more = hits.length > 20 ? "\n  …" : "";
      throw new DerivationNameError(
        `"${q}" is the start of ${hits.length > 20 ? "more than 20" : hits.length} derivation hashes; give more of it:\n${candidates(hits.slice(0, 20))}${more}`,
      );
    }
  }
  throw new DerivationNameError(`no derivation is named "${q}" or has a hash starting with it`);
}

/** As resolveDerivation, among the derivations of one evaluation (`build --rebuild NAME`). */
export function resolveAmong(query: string, drvs: Map<string, { name: string; system: string }>): NamedDerivation {
  const q = query.trim();
  const rows = [...drvs].map(([hash, d]) => ({ hash, name: d.name, system: d.system, created_at: 0 }));
  const exact = rows.find((r) => r.hash === q);
  if (exact) return { hash: exact.hash, name: exact.name, system: exact.system };
  const named = rows.filter((r) => r.name === q);
  if (named.length === 1) return { hash: named[0]!.hash, name: named[0]!.name, system: named[0]!.system };
  if (named.length > 1) throw new DerivationNameError(`"${q}" names ${named.length} derivations here; give a hash (or a unique prefix):\n${candidates(named)}`);
  const hits = /^[0-9a-z]{1,31}$/.test(q) ? rows.filter((r) => r.hash.startsWith(q)) : [];
  if (hits.length === 1) return { hash: hits[0]!.hash, name: hits[0]!.name, system: hits[0]!.system };
  if (hits.length > 1) throw new DerivationNameError(`"${q}" is the start of ${hits.length} derivation hashes here; give more of it:\n${candidates(hits)}`);
  throw new DerivationNameError(`no derivation of this evaluation is named "${q}" or has a hash starting with it`);
}
