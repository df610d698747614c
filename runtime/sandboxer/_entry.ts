/**
 * A sandbox as the Sandbox API services keep it (the containerd 2.0/iSulad Controller and
 * containerd 1.7's shim-side Sandbox service): what Create recorded, the core sandbox once Start
 * booted it, and its exit. Shared so both answer Start, Stop, Wait, Status, Metrics and Shutdown the
 * same way.
 *
 * @module
 */
import { type Timestamp, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { VmExit } from "../../plugins/types.ts";
import { RuntimeError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import type { Sandbox } from "../sandbox/mod.ts";
import { sandboxMetric } from "./metrics.ts";

/** CRI's names for the sandbox states, which containerd passes through. */
export const SANDBOX_READY = "SANDBOX_READY";
export const SANDBOX_NOTREADY = "SANDBOX_NOTREADY";

export interface Exit {
  readonly status: number;
  readonly at: Date;
}

export interface Entry {
  /** The client's sandbox id. */
  readonly id: string;
  readonly netns: string | null;
  readonly annotations: Readonly<Record<string, string>>;
  readonly createdAt: Date;
  sandbox: Sandbox | undefined;
  starting: Promise<Sandbox> | undefined;
  exit: Exit | undefined;
  readonly exited: PromiseWithResolvers<Exit>;
}

/** A new entry, not started. */
export function newEntry(
  id: string,
  netns: string | null,
  annotations: Readonly<Record<string, string>>,
  createdAt: Date,
): Entry {
  return {
    id,
    netns,
    annotations,
    createdAt,
    sandbox: undefined,
    starting: undefined,
    exit: undefined,
    exited: Promise.withResolvers<Exit>(),
  };
}

/** Exit status of a VM as containerd's Wait reports it. Pure. */
export function vmExitStatus(e: VmExit): number {
  switch (e.kind) {
    case "shutdown":
      return 0;
    case "killed":
      return 137;
    case "crashed":
      return e.code;
    case "unknown":
      return 255;
  }
}

/** Records the first exit; later ones change nothing. */
export function markExited(e: Entry, status: number): void {
  if (e.exit !== undefined) return;
  e.exit = { status, at: new Date() };
  e.exited.resolve(e.exit);
}

/** `sb` is the entry's sandbox from now on; its VM's exit is the entry's. */
export function watchVm(e: Entry, sb: Sandbox): void {
  e.sandbox = sb;
  sb.waitVm().then((x) => markExited(e, vmExitStatus(x)), () => markExited(e, 255));
}

/** The VMM's pid while the sandbox runs, else 0. */
export function entryPid(e: Entry): number {
  return e.exit === undefined ? e.sandbox?.pids()[0] ?? 0 : 0;
}

/** Stops the VM (keeping the records) and waits for its exit; a VM whose wait never ends counts as killed. */
export async function stopEntry(e: Entry, timeoutSecs: number, log: Logger): Promise<void> {
  await e.starting?.catch(() => {});
  const sb = e.sandbox;
  if (sb !== undefined && e.exit === undefined) {
    await sb.act({ kind: "stop", ...(timeoutSecs > 0 ? { timeoutMs: timeoutSecs * 1000 } : {}) });
    const late = setTimeout(() => markExited(e, 137), 5000);
    await e.exited.promise;
    clearTimeout(late);
  }
  markExited(e, 0);
  log.info("sandbox stopped", { sandbox: e.id });
}

/** Wait: the sandbox's exit. @throws {RuntimeError} Cancelled when the caller goes away first */
export async function waitEntry(
  e: Entry,
  signal: AbortSignal,
): Promise<{ exitStatus: number; exitedAt: Timestamp }> {
  const aborted = Promise.withResolvers<never>();
  const onAbort = () =>
    aborted.reject(
      new RuntimeError("Cancelled", `Cannot wait for sandbox "${e.id}": the call was cancelled`),
    );
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    const x = await Promise.race([e.exited.promise, aborted.promise]);
    return { exitStatus: x.status, exitedAt: timestampFromDate(x.at) };
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** `id` when it is not empty. @throws {RuntimeError} InvalidArgument */
export function requireId(id: string, what: string): string {
  if (id === "") throw new RuntimeError("InvalidArgument", `Cannot ${what} sandbox: the sandbox id is empty`);
  return id;
}

/** Follows `sb`, which a previous owner left (already stopped: exited with `stoppedStatus`). */
export function adoptEntry(e: Entry, sb: Sandbox, stoppedStatus: number, log: Logger): void {
  if (sb.status().kind === "stopped") {
    e.sandbox = sb;
    markExited(e, stoppedStatus);
  } else watchVm(e, sb);
  log.info("sandbox adopted", { sandbox: e.id, status: sb.status().kind, vmPids: sb.pids() });
}

/** Start: boots the sandbox once (concurrent Starts share the boot). @throws {RuntimeError} FailedPrecondition once exited */
export async function startEntry(e: Entry, boot: () => Promise<Sandbox>, log: Logger): Promise<void> {
  if (e.exit !== undefined) {
    throw new RuntimeError("FailedPrecondition", `Cannot start sandbox "${e.id}": it has exited`);
  }
  if (e.sandbox !== undefined) return;
  e.starting ??= boot().then((sb) => {
    watchVm(e, sb);
    log.info("sandbox started", { sandbox: e.id, vmPids: sb.pids() });
    return sb;
  }).finally(() => (e.starting = undefined));
  await e.starting;
}

/** Shutdown: `remove`s the sandbox (after a boot in flight); the entry has exited from then on. */
export async function shutdownEntry(e: Entry, remove: (sb: Sandbox) => Promise<unknown>): Promise<void> {
  await e.starting?.catch(() => {});
  if (e.sandbox !== undefined) await remove(e.sandbox);
  markExited(e, e.exit?.status ?? 0);
}

/** Metrics of the running sandbox. @throws {RuntimeError} FailedPrecondition when it does not run */
export async function entryMetrics(
  e: Entry,
): Promise<{ metrics: Awaited<ReturnType<typeof sandboxMetric>> }> {
  if (e.sandbox === undefined || e.exit !== undefined) {
    throw new RuntimeError(
      "FailedPrecondition",
      `Cannot read the metrics of sandbox "${e.id}": it is not running`,
    );
  }
  return { metrics: await sandboxMetric(e.id, e.sandbox) };
}

/** Status's answer (verbose: the core record too in `info`). */
export function entryStatus(e: Entry, verbose: boolean): {
  sandboxId: string;
  pid: number;
  state: string;
  info: Record<string, string>;
  createdAt: Timestamp;
  exitedAt?: Timestamp;
} {
  const sb = e.sandbox;
  const core = sb?.status().kind ?? "created";
  const ready = e.exit === undefined && (core === "ready" || core === "paused");
  const info: Record<string, string> = { "cocoon.state": e.exit !== undefined ? "exited" : core };
  if (sb !== undefined) info["cocoon.sandbox_id"] = sb.id;
  if (e.netns !== null) info["cocoon.netns"] = e.netns;
  if (verbose && sb !== undefined) info["cocoon.record"] = JSON.stringify(sb.record);
  return {
    sandboxId: e.id,
    pid: entryPid(e),
    state: ready ? SANDBOX_READY : SANDBOX_NOTREADY,
    info,
    createdAt: timestampFromDate(e.createdAt),
    ...(e.exit !== undefined ? { exitedAt: timestampFromDate(e.exit.at) } : {}),
  };
}
