// Build logs: live lines per node from `log` events, and old logs fetched with log.get.
// Lines are kept in plain arrays that only grow; `version` bumps (at most once per
// frame) so views re-render without copying 100,000-line arrays.
import { create } from "zustand";
import { api } from "../api/client";

export interface LogLine {
  hash: string;
  text: string;
}

/** What the log panel shows: every node's live lines, one node's, or one past build's. */
export type LogSource = { kind: "all" } | { kind: "node"; hash: string } | { kind: "build"; buildId: number; title: string };

export interface LogsStore {
  all: LogLine[];
  byNode: Map<string, LogLine[]>;
  /** lines of past builds, loaded on demand */
  byBuild: Map<number, LogLine[]>;
  version: number;
  source: LogSource;
  follow: boolean;
  query: string;
  append(hash: string, text: string): void;
  resetNode(hash: string): void;
  setSource(s: LogSource): void;
  setFollow(v: boolean): void;
  setQuery(q: string): void;
  openBuild(buildId: number, title: string): Promise<void>;
}

let scheduled = false;

export const useLogs = create<LogsStore>((set, get) => {
  const bump = () => {
    if (scheduled) return;
    scheduled = true;
    const flush = () => {
      scheduled = false;
      set((s) => ({ version: s.version + 1 }));
    };
    if (typeof requestAnimationFrame === "function" && document.visibilityState === "visible") requestAnimationFrame(flush);
    else setTimeout(flush, 16);
  };
  return {
    all: [],
    byNode: new Map(),
    byBuild: new Map(),
    version: 0,
    source: { kind: "all" },
    follow: true,
    query: "",
    append(hash, text) {
      const s = get();
      const line = { hash, text };
      s.all.push(line);
      let lines = s.byNode.get(hash);
      if (!lines) s.byNode.set(hash, (lines = []));
      lines.push(line);
      bump();
    },
    resetNode(hash) {
      get().byNode.set(hash, []);
      bump();
    },
    setSource: (source) => set({ source }),
    setFollow: (follow) => set({ follow }),
    setQuery: (query) => set({ query }),
    async openBuild(buildId, title) {
      set({ source: { kind: "build", buildId, title } });
      const lines: LogLine[] = [];
      get().byBuild.set(buildId, lines);
      let from = 0;
      // Page through the log; a running build's log keeps growing, poll it until it ends.
      for (let guard = 0; guard < 100000; guard++) {
        const r = await api.call("log.get", { buildId, fromLine: from });
        for (const text of r.lines) lines.push({ hash: "", text });
        if (r.lines.length) bump();
        const advanced = r.nextLine > from;
        from = r.nextLine;
        if (r.lines.length && advanced) continue;
        if (!r.running) break;
        const src = get().source;
        if (src.kind !== "build" || src.buildId !== buildId) break;
        await new Promise((res) => setTimeout(res, 500));
      }
      bump();
    },
  };
});
