// Derived, per-node view roles (selected, dependency, dependent, changed by a retarget,
// dimmed by a filter) kept in one map so each node component subscribes to its own entry.
import { create } from "zustand";

export type Role = "selected" | "dep" | "dependent" | "dim" | "path";

export interface ViewStore {
  roles: Map<string, Role>;
  changed: Set<string>;
  /** nodes that are new since the last edit of the project's files */
  edited: Set<string>;
  matches: number;
  setRoles(roles: Map<string, Role>, matches: number): void;
  setChanged(changed: Set<string>): void;
  setEdited(edited: Set<string>): void;
}

export const useView = create<ViewStore>((set) => ({
  roles: new Map(),
  changed: new Set(),
  edited: new Set(),
  matches: 0,
  setRoles: (roles, matches) => set({ roles, matches }),
  setChanged: (changed) => set({ changed }),
  setEdited: (edited) => set({ edited }),
}));
