/**
 * `containerd.task.v2.Task` over ttRPC: decodes containerd's requests, calls the task manager and
 * encodes the answers. Errors keep their RuntimeError code (the ttRPC server maps it to the gRPC
 * status containerd acts on: NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, UNIMPLEMENTED).
 * Checkpoint is not registered, so it answers UNIMPLEMENTED.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { VERSION } from "../cli/version.ts";
import { RuntimeError } from "../errors.ts";
import { ProcessDetailsSchema } from "../protocol/gen/containerd/runc/options/oci_pb.ts";
import { Task } from "../protocol/gen/containerd/task/v2/shim_pb.ts";
import { registerTyped, type TtrpcServer } from "../protocol/ttrpc/mod.ts";
import { toBinary } from "@bufbuild/protobuf";
import { CGROUPS_V2_METRICS_TYPE, encodeCgroupsV2Metrics } from "./metrics.ts";
import type { TaskManager } from "./tasks.ts";

/** Hooks the service needs from the daemon. */
export interface TaskServiceHooks {
  /** Shutdown was asked for `id`; the daemon decides whether to exit (only when nothing is left). */
  shutdown(id: string, now: boolean): void;
}

function json(value: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(value));
  } catch (e) {
    throw new RuntimeError("InvalidArgument", `Invalid ${what}: it is not JSON`, { cause: e });
  }
}

/** Registers the Task service on `server`. */
export function registerTaskService(server: TtrpcServer, tasks: TaskManager, hooks: TaskServiceHooks): void {
  registerTyped(server, Task, {
    async create(req) {
      if (req.checkpoint !== "") {
        throw new RuntimeError(
          "Unimplemented",
          `Cannot restore container "${req.id}": checkpoints are not supported`,
        );
      }
      const pid = await tasks.create({
        id: req.id,
        bundle: req.bundle,
        rootfs: req.rootfs.map((m) => ({ type: m.type, source: m.source, options: [...m.options] })),
        terminal: req.terminal,
        stdin: req.stdin,
        stdout: req.stdout,
        stderr: req.stderr,
      });
      return { pid };
    },
    async start(req) {
      return { pid: await tasks.start(req.id, req.execId) };
    },
    state(req) {
      const t = tasks.task(req.id);
      const p = tasks.proc(req.id, req.execId);
      const exit = p.exit();
      return Promise.resolve({
        id: req.execId === "" ? req.id : req.execId,
        bundle: t.bundle,
        pid: p.pid,
        status: p.status(),
        stdin: p.stdio.stdin,
        stdout: p.stdio.stdout,
        stderr: p.stdio.stderr,
        terminal: p.stdio.terminal,
        exitStatus: exit?.exitStatus ?? 0,
        ...(exit ? { exitedAt: timestampFromDate(exit.exitedAt) } : {}),
        execId: req.execId,
      });
    },
    async wait(req) {
      const exit = await tasks.proc(req.id, req.execId).exited;
      return { exitStatus: exit.exitStatus, exitedAt: timestampFromDate(exit.exitedAt) };
    },
    async kill(req) {
      await tasks.kill(req.id, req.execId, req.signal, req.all);
      return {};
    },
    async delete(req) {
      const r = await tasks.delete(req.id, req.execId);
      return { pid: r.pid, exitStatus: r.exit.exitStatus, exitedAt: timestampFromDate(r.exit.exitedAt) };
    },
    exec(req) {
      const spec = req.spec === undefined ? null : json(req.spec.value, `exec spec of "${req.execId}"`);
      tasks.exec(req.id, req.execId, {
        stdin: req.stdin,
        stdout: req.stdout,
        stderr: req.stderr,
        terminal: req.terminal,
      }, spec);
      return Promise.resolve({});
    },
    async resizePty(req) {
      await tasks.resize(req.id, req.execId, req.width, req.height);
      return {};
    },
    async closeIO(req) {
      if (req.stdin) await tasks.closeStdin(req.id, req.execId);
      return {};
    },
    async pids(req) {
      const t = tasks.task(req.id);
      const procs = await t.sandbox.processes(req.id);
      return {
        processes: procs.map((p) => ({
          pid: p.pid,
          ...(p.execId === "" ? {} : {
            info: {
              typeUrl: ProcessDetailsSchema.typeName,
              value: toBinary(ProcessDetailsSchema, create(ProcessDetailsSchema, { execId: p.execId })),
            },
          }),
        })),
      };
    },
    async pause(req) {
      await tasks.pause(req.id);
      return {};
    },
    async resume(req) {
      await tasks.resume(req.id);
      return {};
    },
    async stats(req) {
      const t = tasks.task(req.id);
      const s = await t.sandbox.stats(req.id);
      return { stats: { typeUrl: CGROUPS_V2_METRICS_TYPE, value: encodeCgroupsV2Metrics(s) } };
    },
    async update(req) {
      const t = tasks.task(req.id);
      if (req.resources === undefined) return {};
      const res = json(req.resources.value, `resources of "${req.id}"`);
      if (typeof res !== "object" || res === null || Array.isArray(res)) {
        throw new RuntimeError("InvalidArgument", `Invalid resources of "${req.id}": expected a JSON object`);
      }
      await t.sandbox.update(req.id, Object.fromEntries(Object.entries(res)));
      return {};
    },
    connect(req) {
      return Promise.resolve({
        shimPid: Deno.pid,
        taskPid: tasks.find(req.id)?.init.pid ?? 0,
        version: VERSION,
      });
    },
    shutdown(req) {
      hooks.shutdown(req.id, req.now);
      return Promise.resolve({});
    },
  });
}
