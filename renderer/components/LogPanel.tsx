// Live build logs: virtualized (100,000 lines stay responsive), ANSI colours, line numbers,
// follow mode, search that jumps from match to match in context (or filters to matches), copy.
import { useEffect, useMemo, useRef, useState } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import { AnsiUp } from "ansi_up";
import { useLogs, type LogLine } from "../stores/logs";
import { useGraph } from "../stores/graph";
import { useSelection } from "../stores/selection";
import { indexGraph } from "../lib/graphIndex";

const ESC = "\u001b";

export function AnsiLine({ text }: { text: string }) {
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
  const [onlyMatches, setOnlyMatches] = useState(false);
  const [current, setCurrent] = useState(0);
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
  // Line numbers (1-based, of the source) of the lines matching the search.
  const matches = useMemo(() => {
    if (!query) return [];
    const q = query.toLowerCase();
    const found: number[] = [];
    lines.forEach((l, i) => stripAnsi(l.text).toLowerCase().includes(q) && found.push(i + 1));
    return found;
  }, [lines, query, version]);
  /** what the list shows: every line, or only the matches; each with its line number */
  // (an accessor, not a copied array: 100,000 lines re-render once per frame while streaming)
  const filtered = !!query && onlyMatches;
  const shown = {
    length: filtered ? matches.length : lines.length,
    at: (i: number) => (filtered ? { line: lines[matches[i]! - 1]!, n: matches[i]! } : { line: lines[i]!, n: i + 1 }),
  };
  const currentLine = matches.length ? matches[Math.min(current, matches.length - 1)]! : null;

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
    if (follow && shown.length && currentLine === null) virt.scrollToIndex(shown.length - 1, { align: "end" });
  }, [follow, shown.length, virt, currentLine]);

  // A new search starts at its first match.
  useEffect(() => setCurrent(0), [query, source]);
  // Jump to the current match, in context: the lines around it stay shown.
  useEffect(() => {
    if (currentLine === null) return;
    if (useLogs.getState().follow) useLogs.getState().setFollow(false);
    const index = filtered ? matches.indexOf(currentLine) : currentLine - 1;
    if (index >= 0) virt.scrollToIndex(index, { align: "center" });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [currentLine, onlyMatches]);
  const step = (by: number) => matches.length && setCurrent((c) => (Math.min(c, matches.length - 1) + by + matches.length) % matches.length);

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
          onKeyDown={(e) => {
            if (e.key === "Enter") {
              e.preventDefault();
              step(e.shiftKey ? -1 : 1);
            }
          }}
          className="log-search"
        />
        {query ? (
          <>
            <button type="button" className="small" aria-label="Previous match" onClick={() => step(-1)} disabled={!matches.length}>
              ↑
            </button>
            <button type="button" className="small" aria-label="Next match" onClick={() => step(1)} disabled={!matches.length}>
              ↓
            </button>
            <span data-testid="log-match">
              {matches.length ? `match ${Math.min(current, matches.length - 1) + 1} of ${matches.length}, line ${currentLine}` : "no match"}
            </span>
            <label className="check">
              <input type="checkbox" checked={onlyMatches} onChange={(e) => setOnlyMatches(e.target.checked)} /> Only matches
            </label>
          </>
        ) : null}
        <span className="log-count" aria-live="polite">
          {query ? `${matches.length} of ${lines.length} lines` : `${lines.length} lines`}
        </span>
        <button
          type="button"
          onClick={async () => {
            const ok = await copyText(Array.from({ length: shown.length }, (_, i) => stripAnsi(shown.at(i).line.text)).join("\n"));
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
            const { line: l, n } = shown.at(item.index);
            const here = n === currentLine;
            return (
              <div
                key={item.key}
                className={here ? "log-line current" : "log-line"}
                data-index={item.index}
                data-line={n}
                data-current={here ? "true" : undefined}
                style={{ position: "absolute", top: 0, left: 0, width: "100%", height: item.size, transform: `translateY(${item.start}px)` }}
              >
                <span className="log-num" aria-hidden="true">
                  {n}
                </span>
                {source.kind === "all" ? <span className="log-prefix">{nameOf(l.hash)}</span> : null}
                <span className="log-text">
                  <AnsiLine text={l.text} />
                </span>
              </div>
            );
          })}
        </div>
      </div>
    </section>
  );
}
