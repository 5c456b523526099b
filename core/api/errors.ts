// Errors as a client sees them: the message plus the field or the source position. Kept
// apart from the service so an evaluation worker can make them without loading the engine.
import { StarlarkError } from "../starlark/index.js";
import { ProjectError } from "../project/project.js";
import type { ApiError, EvalErrorInfo } from "./schema.js";

/** An error a client can act on: the message plus the field or the source position. */
export class ServiceError extends Error {
  constructor(readonly info: ApiError) {
    super(info.message);
  }
}

export function evalErrorInfo(err: unknown): EvalErrorInfo | undefined {
  if (err instanceof StarlarkError) {
    // "cannot load M: ..." is placed at the load() line; the place to go is the error in M.
    const at = innermostPlaced(err);
    return {
      message: err.msg,
      file: at.pos?.file,
      line: at.pos?.line,
      col: at.pos?.col,
      sourceLine: at.sourceLine,
      stack: err.format(),
    };
  }
  if (err instanceof ProjectError) return { message: err.message, file: err.file, line: err.line, col: err.col };
  return undefined;
}

/** Turn anything thrown into the ApiError a client sees. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ServiceError) return err.info;
  const field = (err as { field?: string }).field;
  const evalError = evalErrorInfo(err);
  const message = evalError?.stack ?? (err instanceof Error ? err.message : String(err));
  return { message, ...(field ? { field } : {}), ...(evalError ? { evalError } : {}) };
}

/** The deepest StarlarkError with a position in err's cause chain (a loaded module's own error). */
function innermostPlaced(err: StarlarkError): StarlarkError {
  let found = err;
  for (let c = (err as { cause?: unknown }).cause; c instanceof StarlarkError; c = (c as { cause?: unknown }).cause) if (c.pos) found = c;
  return found;
}
