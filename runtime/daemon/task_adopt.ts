/**
 * Which containerd tasks a restarted daemon takes over: those of the pods a previous daemon held
 * (HeldSandboxes, kind "adopted"), found by their bundles' registrations, which name the task's
 * namespace, id, pod, events address and stdio. A pod is taken whole or not at all: one container
 * without a task registration (a bundle an older daemon wrote) leaves the pod held, to be removed
 * with its containers by the `delete` binary's Cleanup.
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import type { ContainerRecord } from "../sandbox/records.ts";
import { readRegistration, type Registration } from "../shim/registration.ts";
import type { HeldSandboxes } from "./held.ts";

export interface AdoptableTask {
  readonly registration: Registration & { readonly task: NonNullable<Registration["task"]> };
  readonly record: ContainerRecord;
}

/** The tasks of each held pod that can be taken whole, by pod. */
export async function adoptableTasks(held: HeldSandboxes, log: Logger): Promise<AdoptableTask[][]> {
  const pods: AdoptableTask[][] = [];
  for (const id of held.ids()) {
    const sb = held.get(id);
    if (sb === undefined || held.kindOf(id) !== "adopted") continue;
    const found: AdoptableTask[] = [];
    for (const record of await sb.containers().catch(() => [])) {
      const reg = record.bundle === null ? null : await readRegistration(record.bundle).catch(() => null);
      if (reg === null || reg.task === undefined || (reg.coreId ?? reg.id) !== record.id) break;
      found.push({ registration: { ...reg, task: reg.task }, record });
    }
    const all = (await sb.containers().catch(() => [])).length;
    if (found.length > 0 && found.length === all) pods.push(found);
    else log.info("pod left held: not every container is a task of ours", { sandbox: id });
  }
  return pods;
}
