// What the user picked: the selected node, the filters, the side panel tab.
import { create } from "zustand";
import type { NodeState } from "../../core/api/schema";

export type PanelTab = "node" | "run" | "retarget" | "history";

export interface Filters {
  text: string;
  system: string;
  backend: string;
  state: NodeState | "";
}

export interface SelectionStore {
  selected: string | null;
  /** set when something other than the graph picked the node, so the view centres on it */
  focusRequest: number;
  filters: Filters;
  tab: PanelTab;
  /** focus mode: only this node and its neighbourhood of `hops` steps are shown */
  focus: { hash: string; hops: number } | null;
  /** why-depends: every path from `from` down to its dependency `to` is highlighted */
  why: { from: string; to: string } | null;
  setWhy(w: { from: string; to: string } | null): void;
  setFocus(f: { hash: string; hops: number } | null): void;
  select(hash: string | null, opts?: { center?: boolean }): void;
  setFilter<K extends keyof Filters>(k: K, v: Filters[K]): void;
  clearFilters(): void;
  setTab(t: PanelTab): void;
}

export const emptyFilters: Filters = { text: "", system: "", backend: "", state: "" };

export const useSelection = create<SelectionStore>((set) => ({
  selected: null,
  focusRequest: 0,
  filters: emptyFilters,
  tab: "node",
  focus: null,
  why: null,
  setWhy: (why) => set({ why }),
  setFocus: (focus) => set({ focus }),
  select: (selected, opts) =>
    set((s) => ({
      selected,
      why: s.why && s.why.from === selected ? s.why : null,
      tab: selected ? "node" : s.tab,
      focusRequest: opts?.center ? s.focusRequest + 1 : s.focusRequest,
    })),
  setFilter: (k, v) => set((s) => ({ filters: { ...s.filters, [k]: v } })),
  clearFilters: () => set({ filters: emptyFilters }),
  setTab: (tab) => set({ tab }),
}));

export const filtersActive = (f: Filters) => !!(f.text || f.system || f.backend || f.state);
