/**
 * ExecProcess: `<runtime> exec --process P.json --detach --pid-file F [--console-socket S] ID`.
 * The exec'd process is orphaned when the runtime exits and reparents to the agent (subreaper), which
 * reaps it by pid like the init process: one exit path for every process, exact statuses.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import { execId as checkExecId } from "../../runtime/ids.ts";
import { launch } from "./_launch.ts";
import { consoleSocketPath, type ContainerEnv, runtimeArgv } from "./env.ts";
import { specRootPath } from "./create.ts";
import type { AgentProcess, ContainerTable } from "./state.ts";
import { resolveProcessUser } from "./user.ts";

export interface ExecArgs {
  readonly containerId: string;
  readonly execId: string;
  /** The OCI `process` object (args, env, cwd, user, terminal, capabilities...). */
  readonly process: Readonly<Record<string, unknown>>;
}

export async function execProcess(
  env: ContainerEnv,
  table: ContainerTable,
  a: ExecArgs,
): Promise<AgentProcess> {
  const eid = checkExecId(a.execId);
  const c = table.get(a.containerId);
  if (c.phase !== "running") {
    throw new RuntimeError("FailedPrecondition", `Cannot exec in container "${c.id}": it is ${c.phase}`);
  }
  if (c.execs.has(eid)) {
    throw new RuntimeError("AlreadyExists", `Cannot exec "${eid}" in "${c.id}": it exists`);
  }
  const args = a.process["args"];
  if (!Array.isArray(args) || args.length === 0 || !args.every((x) => typeof x === "string")) {
    throw new RuntimeError(
      "InvalidArgument",
      `Cannot exec "${eid}" in "${c.id}": process.args must be non-empty strings`,
    );
  }
  const what = `exec "${eid}" in container "${c.id}"`;
  const root = specRootPath(
    await env.fs.readTextFile(`${c.bundle}/config.json`).then((t): unknown => JSON.parse(t), () => undefined),
    c.bundle,
  );
  const proc = root === undefined ? a.process : await resolveProcessUser(env.fs, root, a.process, what);
  const terminal = a.process["terminal"] === true;
  const base = `${env.stateDir}/${c.id}.${eid}`;
  const processFile = `${base}.process.json`;
  const pidFile = `${base}.pid`;
  const consoleSocket = consoleSocketPath(env.stateDir, `${c.id}.${eid}`);
  await env.fs.writeTextFile(processFile, JSON.stringify(proc));
  try {
    const argv = runtimeArgv(env.runtime, [
      "exec",
      "--process",
      processFile,
      "--detach",
      "--pid-file",
      pidFile,
      ...(terminal ? ["--console-socket", consoleSocket] : []),
      c.id,
    ]);
    const p = await launch(env, {
      argv,
      containerId: c.id,
      execId: eid,
      terminal,
      pidFile,
      ...(terminal ? { consoleSocket } : {}),
      what: `exec "${eid}" in container "${c.id}"`,
    });
    c.execs.set(eid, p);
    env.log.info("process started", { container: c.id, exec: eid, pid: p.pid, terminal });
    return p;
  } finally {
    await env.fs.remove(processFile);
    await env.fs.remove(pidFile);
  }
}
