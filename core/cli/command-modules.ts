// What the CLI's commands load once they run, never at start-up (issue 17 point 4): the service
// and the project's loader, most of the bundle (serve adds the server, ls loads the project's
// reader alone). main.ts (loadCommandModules) and engine-commands.ts import this module
// dynamically; one module, so scripts/build.mjs's split bundle loads it as one chunk and the
// code it shares with the start-up part.
export { caller, createService, firstModuleArg, moduleInfos, toApiError } from "../api/service.js";
export { workerEvaluator } from "../api/evaluator.js";
export { localCaller, UsageProblem } from "../api/local.js";
export { findProjectRoot, loadProject, readProject } from "../project/project.js";
export { checkModuleArgSyntax, isPathArg, MODULE_ARG_FORMS, ModuleArgError, moduleArgPath } from "../project/module-args.js";
