/**
 * WaitProcess: resolves with the shell-style exit code (0, 7, 137 after SIGKILL) once the reaper has
 * seen the process exit.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import { exitCodeOf } from "../sys/reaper.ts";
import type { ContainerTable } from "./state.ts";

export async function waitProcess(
  table: ContainerTable,
  containerId: string,
  execId: string,
  opts: { signal?: AbortSignal } = {},
): Promise<number> {
  const p = table.get(containerId).process(execId);
  if (!opts.signal) return exitCodeOf(await p.exited);
  const signal = opts.signal;
  signal.throwIfAborted();
  const { promise, reject } = Promise.withResolvers<never>();
  const onAbort = () =>
    reject(new RuntimeError("Cancelled", `Cannot wait for "${execId || containerId}": cancelled`));
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    return exitCodeOf(await Promise.race([p.exited, promise]));
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
