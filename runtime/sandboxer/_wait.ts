/**
 * Wait (Controller.Wait, Sandbox.WaitSandbox): blocks until the sandbox has exited, or fails with
 * `Cancelled` when the caller goes away.
 *
 * @module
 */
import { type Timestamp, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { RuntimeError } from "../errors.ts";

export async function waitForExit(
  id: string,
  exited: Promise<{ readonly status: number; readonly at: Date }>,
  signal: AbortSignal,
): Promise<{ exitStatus: number; exitedAt: Timestamp }> {
  const aborted = Promise.withResolvers<never>();
  const onAbort = () =>
    aborted.reject(new RuntimeError("Cancelled", `Cannot wait for sandbox "${id}": the call was cancelled`));
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    const x = await Promise.race([exited, aborted.promise]);
    return { exitStatus: x.status, exitedAt: timestampFromDate(x.at) };
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
