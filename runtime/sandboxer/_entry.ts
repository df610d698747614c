/**
 * A sandbox as the Sandbox API services keep it (the containerd 2.0/iSulad Controller and
 * containerd 1.7's shim-side Sandbox service): what Create recorded, the core sandbox once Start
 * booted it, and its exit. Shared so both answer Start, Stop, Wait and Status the same way.
 *
 * @module
 */
import type { VmExit } from "../../plugins/types.ts";
import type { Logger } from "../log/logger.ts";
import type { Sandbox } from "../sandbox/mod.ts";

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

/** Status's state and info map (verbose: the core record too). */
export function entryStatus(e: Entry, verbose: boolean): { state: string; info: Record<string, string> } {
  const sb = e.sandbox;
  const core = sb?.status().kind ?? "created";
  const ready = e.exit === undefined && (core === "ready" || core === "paused");
  const info: Record<string, string> = { "cocoon.state": e.exit !== undefined ? "exited" : core };
  if (sb !== undefined) info["cocoon.sandbox_id"] = sb.id;
  if (e.netns !== null) info["cocoon.netns"] = e.netns;
  if (verbose && sb !== undefined) info["cocoon.record"] = JSON.stringify(sb.record);
  return { state: ready ? SANDBOX_READY : SANDBOX_NOTREADY, info };
}
