// The build file an evaluation error points at, opened at its line: the "click the
// place to go there" of an editor, without leaving the app.
import { useEffect, useRef, useState } from "react";
import { api } from "../api/client";

export interface SourcePlace {
  file: string;
  line?: number;
  col?: number;
}

export function SourceView({ place, onClose }: { place: SourcePlace; onClose: () => void }) {
  const [text, setText] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const current = useRef<HTMLLIElement>(null);
  const closeButton = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    let live = true;
    api.call("source.get", { path: place.file }).then(
      (s) => live && setText(s.text),
      (e: Error) => live && setError(e.message),
    );
    return () => {
      live = false;
    };
  }, [place.file]);

  useEffect(() => {
    current.current?.scrollIntoView({ block: "center" });
    closeButton.current?.focus();
  }, [text]);

  const lines = text?.split("\n") ?? [];
  return (
    <div
      className="source-view"
      role="dialog"
      aria-modal="true"
      aria-label={`Source of ${place.file}`}
      data-testid="source-view"
      onKeyDown={(e) => {
        if (e.key === "Escape") onClose();
      }}
    >
      <div className="source-view-head">
        <span className="mono">
          {place.file}
          {place.line ? `:${place.line}` : ""}
          {place.col ? `:${place.col}` : ""}
        </span>
        <button type="button" ref={closeButton} onClick={onClose} aria-label="Close the source">
          Close
        </button>
      </div>
      {error ? <p role="alert">{error}</p> : null}
      <ol className="source-lines">
        {lines.map((l, i) => {
          const here = i + 1 === place.line;
          return (
            <li key={i} ref={here ? current : undefined} className={here ? "here" : undefined} data-current={here ? "true" : undefined}>
              <span className="num" aria-hidden="true">
                {i + 1}
              </span>
              <code>{l || " "}</code>
              {here && place.col ? (
                <code className="caret" aria-hidden="true">
                  {" ".repeat(place.col - 1)}^
                </code>
              ) : null}
            </li>
          );
        })}
      </ol>
    </div>
  );
}
