/**
 * The library API (classic Kata virtcontainers calls in TypeScript): re-exported by the
 * repository's `mod.ts`. Implementation files: sandbox_api.ts (entry points and the Sandbox
 * handle), container_api.ts, relay_api.ts; hot-plug is the core's (runtime/sandbox/hotplug.ts).
 *
 * @module
 */
export {
  createSandbox,
  createSandboxWith,
  fetchSandbox,
  fetchSandboxWith,
  listSandboxes,
  listSandboxesWith,
  Sandbox,
} from "./sandbox_api.ts";
export { Process } from "./relay_api.ts";
export type { LibraryHooks } from "./runtime_open.ts";
export type * from "./types.ts";
