/**
 * execProcess: runs another process in a running container (runc exec).
 *
 * @module
 */
import { SandboxError } from "../errors.ts";
import { containerId, execId } from "../ids.ts";
import type { OciProcess } from "../oci/spec.ts";
import { loadContainer, requireAgent, type SandboxContext, saveContainer } from "./_context.ts";
import type { ExecRecord } from "./records.ts";
import { canExec, now, refuse } from "./status.ts";

export interface ExecOptions {
  readonly execId: string;
  /** The validated OCI process (`parseOciProcess`). */
  readonly process: OciProcess;
  readonly stdin?: boolean;
  readonly signal?: AbortSignal;
}

/** Starts the process and returns its record (with the guest pid). */
export async function execProcess(ctx: SandboxContext, id: string, opts: ExecOptions): Promise<ExecRecord> {
  const cid = containerId(id);
  const eid = execId(opts.execId);
  const c = await loadContainer(ctx, cid);
  if (!canExec(c.status)) throw refuse("exec in", `container "${cid}"`, c.status);
  if (c.execs[eid] !== undefined) {
    throw new SandboxError(
      "AlreadyExists",
      `Cannot exec "${eid}" in container "${cid}": a process with this id exists`,
    );
  }
  const agent = requireAgent(ctx, `exec in container "${cid}"`);
  const pid = await agent.execProcess({
    containerId: cid,
    execId: eid,
    process: opts.process.raw,
    stdio: { stdin: opts.stdin ?? false, stdout: true, stderr: true, terminal: opts.process.terminal },
  }, opts.signal ? { signal: opts.signal } : {});
  const rec: ExecRecord = {
    id: eid,
    terminal: opts.process.terminal,
    status: { kind: "running", pid, startedAt: now() },
  };
  await saveContainer(ctx, { ...c, execs: { ...c.execs, [eid]: rec } });
  ctx.log.info("process started", { container: cid, exec: eid, pid });
  for (const f of ctx.onStart) f(cid, eid);
  return rec;
}
