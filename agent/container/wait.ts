/**
 * WaitProcess: resolves with the shell-style exit code (0, 7, 137 after SIGKILL) once the reaper has
 * seen the process exit (for a container's init, also once the table's exit checks ran).
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
  const c = table.get(containerId);
  const p = c.process(execId);
  // The init's exit is answered after the exit checks (the OOM watcher's last look).
  const exited = p === c.init ? table.settled(c).then(() => p.exited) : p.exited;
  if (!opts.signal) return exitCodeOf(await exited);
  const signal = opts.signal;
  signal.throwIfAborted();
  const { promise, reject } = Promise.withResolvers<never>();
  const onAbort = () =>
    reject(new RuntimeError("Cancelled", `Cannot wait for "${execId || containerId}": cancelled`));
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    return exitCodeOf(await Promise.race([exited, promise]));
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
