/**
 * The owner of a sandbox, recorded in its record: the process that holds the VM writes itself
 * there when it creates or attaches the sandbox, and clears it when it releases it. Whoever wants
 * to act on a sandbox reads the record and goes to that owner (a process that died is no owner).
 *
 * @module
 */
import { processAlive, processStartTime } from "../sys/process_identity.ts";
import type { SandboxOwnerRecord } from "./records.ts";

/** What a process is to the sandboxes it holds (`openSandboxRuntime`'s `owner`). */
export type OwnerIdentity =
  | { readonly kind: "daemon"; readonly api: string }
  | { readonly kind: "holder"; readonly socket: string }
  | { readonly kind: "program" };

let ownStart: Promise<string> | undefined;

/** The record naming this process as `identity`. */
export async function ownerRecord(identity: OwnerIdentity): Promise<SandboxOwnerRecord> {
  ownStart ??= processStartTime(Deno.pid).then((t) => t ?? "");
  const me = { pid: Deno.pid, startTime: await ownStart };
  switch (identity.kind) {
    case "daemon":
      return { kind: "daemon", ...me, api: identity.api };
    case "holder":
      return { kind: "holder", ...me, socket: identity.socket };
    case "program":
      return { kind: "program", ...me };
  }
}

/** The recorded owner while it lives, else null. */
export async function liveOwner(
  owner: SandboxOwnerRecord | null | undefined,
): Promise<SandboxOwnerRecord | null> {
  if (owner === null || owner === undefined) return null;
  return await processAlive(owner) ? owner : null;
}

/** True when `owner` is this process. Pure but for the pid. */
export function ownedHere(owner: SandboxOwnerRecord | null | undefined): boolean {
  return owner !== null && owner !== undefined && owner.pid === Deno.pid;
}
