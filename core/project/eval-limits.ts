// An evaluation's budget as this user set it: the user config's [evaluation] table, then
// $BRAMBLE_EVAL_TIMEOUT (seconds) and $BRAMBLE_EVAL_STEPS. A project cannot set its own.
import { existsSync } from "node:fs";
import { userConfigFile } from "../builders/host-access.js";
import { readConfigFile, UserConfigToml } from "../config/schema.js";

/**
 * The budget from the user's config (`[evaluation] timeout = <seconds>`, `max_steps = <n>`),
 * then $BRAMBLE_EVAL_TIMEOUT (seconds) and $BRAMBLE_EVAL_STEPS, when set.
 */
export function configuredEvalLimits(): { maxSteps?: number; timeoutMs?: number } {
  const out: { maxSteps?: number; timeoutMs?: number } = {};
  const file = userConfigFile();
  if (existsSync(file)) {
    let evaluation: UserConfigToml["evaluation"];
    try {
      evaluation = readConfigFile(UserConfigToml, file).evaluation;
    } catch (err) {
      // `bramble backends` shows the same error as the "config" backend; evaluation goes on with the defaults.
      console.error(`warning: ${(err as Error).message}; evaluating with the default budget`);
    }
    if (evaluation?.timeout !== undefined) out.timeoutMs = evaluation.timeout * 1000;
    if (evaluation?.max_steps !== undefined) out.maxSteps = evaluation.max_steps;
  }
  const t = process.env.BRAMBLE_EVAL_TIMEOUT;
  const n = process.env.BRAMBLE_EVAL_STEPS;
  if (t !== undefined && t !== "") {
    if (!(Number(t) > 0)) throw new Error(`BRAMBLE_EVAL_TIMEOUT must be a positive number of seconds, not "${t}"`);
    out.timeoutMs = Number(t) * 1000;
  }
  if (n !== undefined && n !== "") {
    if (!(Number.isInteger(Number(n)) && Number(n) > 0)) throw new Error(`BRAMBLE_EVAL_STEPS must be a positive integer, not "${n}"`);
    out.maxSteps = Number(n);
  }
  return out;
}
