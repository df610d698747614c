/**
 * Which containerd tasks a restarted daemon takes over: those of the pods a previous daemon held
 * (HeldSandboxes, kind "adopted"), found by their bundles' registrations, which name the task's
 * namespace, id, pod, events address and stdio. A pod is taken whole or not at all: one container
 * without a task registration (a bundle an older daemon wrote) leaves the pod held, to be removed
 * with its containers by the `delete` binary's Cleanup. Running exec'd processes are taken over too,
 * with the stdio their daemon recorded when it started them (task_io.ts `recordExec`).
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import type { ContainerRecord } from "../sandbox/records.ts";
import { readRegistration, type Registration } from "../shim/registration.ts";
import { openBundleLog } from "./bundle_log.ts";
import type { HeldSandboxes } from "./held.ts";
import type { Pods } from "./pods.ts";
import { Proc, type Task } from "./proc.ts";
import { attachStdio, recordedExec, type TaskIoContext, watchExit } from "./task_io.ts";

interface Found {
  readonly registration: Registration & { readonly task: NonNullable<Registration["task"]> };
  readonly record: ContainerRecord & { readonly bundle: string };
}

/** The tasks of each held pod that can be taken whole, by pod. */
async function adoptable(held: HeldSandboxes, log: Logger): Promise<Found[][]> {
  const pods: Found[][] = [];
  for (const id of held.ids()) {
    const sb = held.get(id);
    if (sb === undefined || held.kindOf(id) !== "adopted") continue;
    const records = await sb.containers().catch(() => []);
    const found: Found[] = [];
    for (const record of records) {
      const { bundle } = record;
      const reg = bundle === null ? null : await readRegistration(bundle).catch(() => null);
      if (bundle === null || reg === null || reg.task === undefined || (reg.coreId ?? reg.id) !== record.id) {
        break;
      }
      found.push({ registration: { ...reg, task: reg.task }, record: { ...record, bundle } });
    }
    if (found.length > 0 && found.length === records.length) pods.push(found);
    else log.info("pod left held: not every container is a task of ours", { sandbox: id });
  }
  return pods;
}

/**
 * Takes over the held pods' tasks: joins their pods in `pods`, sets each init's state from its
 * record, wires its stdio again and watches its exit. Returns the tasks.
 */
export async function adoptTasks(held: HeldSandboxes, pods: Pods, io: TaskIoContext): Promise<Task[]> {
  const out: Task[] = [];
  for (const pod of await adoptable(held, io.log)) {
    for (const { registration: reg, record } of pod) {
      const sandbox = await pods.adopt(reg.group, record.id, { namespace: reg.namespace });
      if (sandbox === undefined) continue;
      const init = new Proc(reg.id, "", reg.task.stdio);
      const t: Task = {
        id: reg.id,
        coreId: record.id,
        namespace: reg.namespace,
        bundle: record.bundle,
        group: reg.group,
        ttrpcAddress: reg.ttrpcAddress,
        sandbox,
        rootfsMounted: reg.task.rootfsMounted,
        init,
        execs: new Map(),
        io: new Map(),
        bundleLog: openBundleLog(record.bundle, { container: reg.id, sandbox: sandbox.id }),
        logDriver: undefined, // a `binary://` logger died with the daemon that ran it
      };
      const st = record.status;
      if (st.kind === "stopped") {
        init.pid = st.pid;
        init.setExited({ exitStatus: st.exitStatus ?? 137, exitedAt: new Date(st.exitedAt) });
      } else if (st.kind !== "creating") {
        init.pid = st.pid;
        if (!init.stdio.stdout.startsWith("binary://")) attachStdio(io, t, init);
        if (st.kind !== "created") {
          init.setRunning(st.pid);
          if (st.kind === "paused") init.setPaused(true);
          void watchExit(io, t, init, () => sandbox.wait(t.coreId));
        }
      }
      for (const [execId, e] of Object.entries(record.execs)) {
        const stdio = e.status.kind === "running" ? await recordedExec(record.bundle, execId) : null;
        if (stdio === null) continue;
        const p = new Proc(reg.id, execId, stdio);
        p.setRunning(e.status.pid);
        t.execs.set(execId, p);
        attachStdio(io, t, p);
        void watchExit(io, t, p, () => sandbox.waitExec(t.coreId, execId));
      }
      out.push(t);
      t.bundleLog.log.info("task taken over from a previous daemon", {
        pid: init.pid,
        state: st.kind,
        execs: [...t.execs.keys()],
      });
      io.log.info("task adopted", { container: reg.id, namespace: reg.namespace, state: st.kind });
    }
  }
  return out;
}
