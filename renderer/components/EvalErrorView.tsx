// An evaluation error: message, file:line:col and the source line with a caret.
import { useState } from "react";
import { useGraph } from "../stores/graph";
import { copyText } from "./LogPanel";
import { SourceView } from "./SourceView";

export function EvalErrorView() {
  const error = useGraph((s) => s.error);
  const ev = useGraph((s) => s.evalError);
  const [open, setOpen] = useState(false);
  if (!error) return null;
  const place = ev?.file ? `${ev.file}${ev.line ? `:${ev.line}` : ""}${ev.col ? `:${ev.col}` : ""}` : null;
  return (
    <div className="eval-error" role="alert" data-testid="eval-error">
      <strong>{ev ? "Evaluation failed" : "Error"}:</strong> {ev?.message ?? error}
      {place ? (
        <div>
          <button type="button" className="link" title="Open the file at this place" data-testid="eval-error-place" onClick={() => setOpen(true)}>
            {place}
          </button>{" "}
          <button type="button" className="small" title="Copy the place to open it in your editor" onClick={() => void copyText(place)}>
            Copy
          </button>
        </div>
      ) : null}
      {ev?.sourceLine ? (
        <pre className="source-line">
          {ev.sourceLine}
          {ev.col ? `\n${" ".repeat(Math.max(0, ev.col - 1))}^` : ""}
        </pre>
      ) : null}
      {ev?.stack ? (
        <details>
          <summary>Stack</summary>
          <pre>{ev.stack}</pre>
        </details>
      ) : null}
      {open && ev?.file ? <SourceView place={{ file: ev.file, line: ev.line, col: ev.col }} onClose={() => setOpen(false)} /> : null}
    </div>
  );
}
