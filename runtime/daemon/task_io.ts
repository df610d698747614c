/**
 * A task process's plumbing: its stdio wired to the sandbox's streams (and held by the supervisor
 * across a daemon restart), and its exit watched, drained and published.
 *
 * @module
 */
import { createHash } from "node:crypto";
import * as v from "valibot";
import type { Logger } from "../log/logger.ts";
import { writeAtomic } from "../sys/files.ts";
import type { TaskEvent } from "../protocol/events.ts";
import { type Proc, type ProcExit, procKey, type Task } from "./proc.ts";
import { copyOutput, copyStdin, type TaskStdio } from "./stdio.ts";
import type { StdioHolds } from "./stdio_hold.ts";

/** How long output may still drain after a process exited before the exit is reported. */
const DRAIN_MS = 3000;

export interface TaskIoContext {
  readonly log: Logger;
  readonly holds: StdioHolds;
  publish(t: Task, event: TaskEvent): void;
}

/** Wires a process's stdio to the sandbox's streams (before it runs, so nothing is missed). */
export function attachStdio(ctx: TaskIoContext, t: Task, p: Proc): void {
  const io = t.sandbox.io(t.coreId, p.execId === "" ? {} : { exec: p.execId });
  const log = ctx.log.child({ container: t.id, exec: p.execId });
  const driver = p.execId === "" ? t.logDriver : undefined;
  const output = copyOutput(
    p.stdio,
    io,
    log,
    driver ? { stdout: driver.stdout, stderr: driver.stderr } : undefined,
  );
  const stdin = p.stdio.stdin !== "" ? copyStdin(p.stdio.stdin, io.stdin, log) : undefined;
  t.io.set(p, { output, ...(stdin ? { stdin } : {}) });
  ctx.holds.hold(procKey(t, p), p.stdio);
}

/** Waits for the exit, lets the output drain, then records and publishes it. */
export async function watchExit(
  ctx: TaskIoContext,
  t: Task,
  p: Proc,
  wait: () => Promise<{ exitStatus: number; exitedAt: string }>,
): Promise<void> {
  let exit: ProcExit;
  try {
    const e = await wait();
    exit = { exitStatus: e.exitStatus, exitedAt: new Date(e.exitedAt) };
  } catch (e) {
    // The VM or its agent went away: the process is gone with it (as SIGKILL).
    ctx.log.warn("process lost", { container: t.id, exec: p.execId, error: e });
    exit = { exitStatus: 137, exitedAt: new Date() };
  }
  const io = t.io.get(p);
  if (io?.output) await Promise.race([io.output, new Promise((r) => setTimeout(r, DRAIN_MS))]);
  ctx.holds.release(procKey(t, p));
  if (!p.setExited(exit)) return;
  t.bundleLog.log.info("process exited", { exec: p.execId, pid: p.pid, exitStatus: exit.exitStatus });
  ctx.publish(t, {
    kind: "exit",
    containerId: t.id,
    id: p.execId === "" ? t.id : p.execId,
    pid: p.pid,
    exitStatus: exit.exitStatus,
    exitedAt: exit.exitedAt,
  });
}

/** An exec's stdio, kept in the bundle while it runs, for a restarted daemon to take it over. */
function execFile(bundle: string, execId: string): string {
  return `${bundle}/.cocoon-exec-${createHash("sha256").update(execId).digest("hex").slice(0, 16)}.json`;
}

const ExecFileSchema = v.object({
  execId: v.string(),
  stdio: v.object({ stdin: v.string(), stdout: v.string(), stderr: v.string(), terminal: v.boolean() }),
});

export async function recordExec(t: Task, p: Proc): Promise<void> {
  await writeAtomic(execFile(t.bundle, p.execId), JSON.stringify({ execId: p.execId, stdio: p.stdio }));
}

export async function forgetExec(t: Task, execId: string): Promise<void> {
  await Deno.remove(execFile(t.bundle, execId)).catch(() => {});
}

/** The stdio a previous daemon recorded for exec `execId` of the bundle (null: none, or not ours). */
export async function recordedExec(bundle: string, execId: string): Promise<TaskStdio | null> {
  try {
    const r = v.safeParse(ExecFileSchema, JSON.parse(await Deno.readTextFile(execFile(bundle, execId))));
    return r.success && r.output.execId === execId ? r.output.stdio : null;
  } catch {
    return null;
  }
}
