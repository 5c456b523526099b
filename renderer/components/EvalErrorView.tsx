// An evaluation error: message, file:line:col and the source line with a caret.
import { useGraph } from "../stores/graph";
import { copyText } from "./LogPanel";

export function EvalErrorView() {
  const error = useGraph((s) => s.error);
  const ev = useGraph((s) => s.evalError);
  if (!error) return null;
  const place = ev?.file ? `${ev.file}${ev.line ? `:${ev.line}` : ""}${ev.col ? `:${ev.col}` : ""}` : null;
  return (
    <div className="eval-error" role="alert" data-testid="eval-error">
      <strong>{ev ? "Evaluation failed" : "Error"}:</strong> {ev?.message ?? error}
      {place ? (
        <div>
          <button type="button" className="link" title="Copy the place to open it in your editor" onClick={() => void copyText(place)}>
            {place}
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
    </div>
  );
}
