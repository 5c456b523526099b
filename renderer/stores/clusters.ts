// Which modules the graph shows collapsed, each as one cluster node.
import { create } from "zustand";

export interface ClusterStore {
  collapsed: ReadonlySet<string>;
  /** the graph (project and module argument) the set was chosen for: a new one starts over */
  forGraph: string;
  setCollapsed(collapsed: ReadonlySet<string>, forGraph?: string): void;
  collapse(module: string): void;
  expand(module: string): void;
}

export const useClusters = create<ClusterStore>((set) => ({
  collapsed: new Set(),
  forGraph: "",
  setCollapsed: (collapsed, forGraph) => set((s) => ({ collapsed, forGraph: forGraph ?? s.forGraph })),
  collapse: (m) => set((s) => ({ collapsed: new Set([...s.collapsed, m]) })),
  expand: (m) => set((s) => ({ collapsed: new Set([...s.collapsed].filter((x) => x !== m)) })),
}));
