// Live build logs: virtualized (100,000 lines stay responsive), ANSI colours, follow mode,
// search (filters to matching lines), copy.
import { useEffect, useMemo, useRef, useState } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import { AnsiUp } from "ansi_up";
import { useLogs, type LogLine } from "../stores/logs";
import { useGraph } from "../stores/graph";
import { useSelection } from "../stores/selection";
import { indexGraph } from "../lib/graphIndex";

const ESC = "\u001b";

function AnsiLine({ text }: { text: string }) {
  if (!text.includes(ESC)) return <>{text}</>;
  const au = new AnsiUp();
  au.use_classes = false;
  return <span dangerouslySetInnerHTML={{ __html: au.ansi_to_html(text) }} />;
}

export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "fixed";
    ta.style.opacity = "0";
    document.body.appendChild(ta);
    ta.select();
    const ok = document.execCommand("copy");
    ta.remove();
    return ok;
  }
}

const stripAnsi = (s: string) => s.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, "");

export function LogPanel() {
  const version = useLogs((s) => s.version);
  const source = useLogs((s) => s.source);
  const follow = useLogs((s) => s.follow);
  const query = useLogs((s) => s.query);
  const graph = useGraph((s) => s.graph);
  const selected = useSelection((s) => s.selected);
  const [copied, setCopied] = useState(false);
  const scrollRef = useRef<HTMLDivElement>(null);
  const ix = graph ? indexGraph(graph) : null;
  const nameOf = (h: string) => ix?.byHash.get(h)?.name ?? h.slice(0, 8);

  // The lines of the current source, as (prefix, text) pairs.
  const lines: LogLine[] = useMemo(() => {
    const s = useLogs.getState();
    if (source.kind === "all") return s.all;
    if (source.kind === "node") return s.byNode.get(source.hash) ?? [];
    return s.byBuild.get(source.buildId) ?? [];
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [source, version]);
  const shown = useMemo(() => {
    if (!query) return lines;
    const q = query.toLowerCase();
    return lines.filter((l) => stripAnsi(l.text).toLowerCase().includes(q));
  }, [lines, query, version]);

  // While showing one node's log, follow the selection to the next node.
  useEffect(() => {
    const src = useLogs.getState().source;
    if (selected && src.kind === "node" && src.hash !== selected) useLogs.getState().setSource({ kind: "node", hash: selected });
  }, [selected]);

  const virt = useVirtualizer({
    count: shown.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => 18,
    overscan: 20,
  });

  useEffect(() => {
    if (follow && shown.length) virt.scrollToIndex(shown.length - 1, { align: "end" });
  }, [follow, shown.length, virt]);

  const nodesWithLogs = useMemo(() => [...useLogs.getState().byNode.keys()], [version]);
  const sourceValue = source.kind === "all" ? "all" : source.kind === "node" ? `node:${source.hash}` : `build:${source.buildId}`;

  return (
    <section className="log-panel" aria-label="Build log">
      <div className="log-toolbar">
        <label htmlFor="log-source">Log</label>
        <select
          id="log-source"
          value={sourceValue}
          onChange={(e) => {
            const v = e.target.value;
            const setSource = useLogs.getState().setSource;
            if (v === "all") setSource({ kind: "all" });
            else if (v.startsWith("node:")) setSource({ kind: "node", hash: v.slice(5) });
          }}
        >
          <option value="all">All nodes</option>
          {selected && !nodesWithLogs.includes(selected) ? <option value={`node:${selected}`}>{nameOf(selected)}</option> : null}
          {nodesWithLogs.map((h) => (
            <option key={h} value={`node:${h}`}>
              {nameOf(h)}
            </option>
          ))}
          {source.kind === "build" ? <option value={sourceValue}>{source.title}</option> : null}
        </select>
        <label className="check">
          <input type="checkbox" checked={follow} onChange={(e) => useLogs.getState().setFollow(e.target.checked)} /> Follow
        </label>
        <input
          type="search"
          aria-label="Search the log"
          placeholder="Search log"
          value={query}
          onChange={(e) => useLogs.getState().setQuery(e.target.value)}
          className="log-search"
        />
        <span className="log-count" aria-live="polite">
          {query ? `${shown.length} of ${lines.length} lines` : `${lines.length} lines`}
        </span>
        <button
          type="button"
          onClick={async () => {
            const ok = await copyText(shown.map((l) => stripAnsi(l.text)).join("\n"));
            setCopied(ok);
            setTimeout(() => setCopied(false), 1500);
          }}
        >
          {copied ? "Copied" : "Copy"}
        </button>
      </div>
      <div
        className="log-view"
        data-testid="log-view"
        ref={scrollRef}
        tabIndex={0}
        role="log"
        aria-label="Log lines"
        onWheel={(e) => {
          if (e.deltaY < 0 && follow) useLogs.getState().setFollow(false);
        }}
      >
        {shown.length === 0 ? <div className="log-empty">{source.kind === "build" ? "Loading…" : "No log lines yet. Build to see output here."}</div> : null}
        <div style={{ height: virt.getTotalSize(), position: "relative", width: "100%" }}>
          {virt.getVirtualItems().map((item) => {
            const l = shown[item.index]!;
            return (
              <div
                key={item.key}
                className="log-line"
                data-index={item.index}
                style={{ position: "absolute", top: 0, left: 0, width: "100%", height: item.size, transform: `translateY(${item.start}px)` }}
              >
                {source.kind === "all" ? <span className="log-prefix">{nameOf(l.hash)}</span> : null}
                <AnsiLine text={l.text} />
              </div>
            );
          })}
        </div>
      </div>
    </section>
  );
}
