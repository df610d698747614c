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
import { parseRuntimeOptions } from "./runtime_options.ts";
import type { TaskManager } from "./tasks.ts";
import { NAMESPACE_METADATA_KEY } from "../protocol/events.ts";
import type { Metadata } from "../protocol/ttrpc/metadata.ts";

/** Hooks the service needs from the daemon. */
export interface TaskServiceHooks {
  /**
   * Shutdown was asked for `id` (of namespace `ns`, "" when unknown); the daemon decides whether to
   * exit (only when nothing is left).
   */
  shutdown(id: string, now: boolean, ns: string): void | Promise<void>;
}

function json(value: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(value));
  } catch (e) {
    throw new RuntimeError("InvalidArgument", `Invalid ${what}: it is not JSON`, { cause: e });
  }
}

/** The containerd namespace a request names in its ttRPC metadata ("" when none). */
function metadataNamespace(md: Metadata): string {
  return md.get(NAMESPACE_METADATA_KEY)?.[0] ?? "";
}

/**
 * Registers the Task service on `server`. With `namespace`, calls that name none in their metadata
 * belong to it (the server of one namespace's socket).
 */
export function registerTaskService(
  server: TtrpcServer,
  tasks: TaskManager,
  hooks: TaskServiceHooks,
  opts: { namespace?: string } = {},
): void {
  const namespaceOf = (md: Metadata): string => metadataNamespace(md) || (opts.namespace ?? "");
  registerTyped(server, Task, {
    async create(req, ctx) {
      if (req.checkpoint !== "") {
        throw new RuntimeError(
          "Unimplemented",
          `Cannot restore container "${req.id}": checkpoints are not supported`,
        );
      }
      const options = parseRuntimeOptions(req.options, req.id);
      const pid = await tasks.create({
        id: req.id,
        namespace: namespaceOf(ctx.metadata),
        ...options,
        bundle: req.bundle,
        rootfs: req.rootfs.map((m) => ({ type: m.type, source: m.source, options: [...m.options] })),
        terminal: req.terminal,
        stdin: req.stdin,
        stdout: req.stdout,
        stderr: req.stderr,
      });
      return { pid };
    },
    async start(req, ctx) {
      return { pid: await tasks.start(req.id, req.execId, namespaceOf(ctx.metadata)) };
    },
    state(req, ctx) {
      const t = tasks.task(req.id, namespaceOf(ctx.metadata));
      const p = tasks.proc(req.id, req.execId, t.namespace);
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
    async wait(req, ctx) {
      const exit = await tasks.proc(req.id, req.execId, namespaceOf(ctx.metadata)).exited;
      return { exitStatus: exit.exitStatus, exitedAt: timestampFromDate(exit.exitedAt) };
    },
    async kill(req, ctx) {
      await tasks.kill(req.id, req.execId, req.signal, req.all, namespaceOf(ctx.metadata));
      return {};
    },
    async delete(req, ctx) {
      const r = await tasks.delete(req.id, req.execId, namespaceOf(ctx.metadata));
      return { pid: r.pid, exitStatus: r.exit.exitStatus, exitedAt: timestampFromDate(r.exit.exitedAt) };
    },
    exec(req, ctx) {
      const spec = req.spec === undefined ? null : json(req.spec.value, `exec spec of "${req.execId}"`);
      tasks.exec(
        req.id,
        req.execId,
        {
          stdin: req.stdin,
          stdout: req.stdout,
          stderr: req.stderr,
          terminal: req.terminal,
        },
        spec,
        namespaceOf(ctx.metadata),
      );
      return Promise.resolve({});
    },
    async resizePty(req, ctx) {
      await tasks.resize(req.id, req.execId, req.width, req.height, namespaceOf(ctx.metadata));
      return {};
    },
    async closeIO(req, ctx) {
      if (req.stdin) await tasks.closeStdin(req.id, req.execId, namespaceOf(ctx.metadata));
      return {};
    },
    async pids(req, ctx) {
      const t = tasks.task(req.id, namespaceOf(ctx.metadata));
      const procs = await t.sandbox.act({ kind: "processes", containerId: t.coreId });
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
    async pause(req, ctx) {
      await tasks.pause(req.id, namespaceOf(ctx.metadata));
      return {};
    },
    async resume(req, ctx) {
      await tasks.resume(req.id, namespaceOf(ctx.metadata));
      return {};
    },
    async stats(req, ctx) {
      const t = tasks.task(req.id, namespaceOf(ctx.metadata));
      const s = await t.sandbox.act({ kind: "stats", containerId: t.coreId });
      return { stats: { typeUrl: CGROUPS_V2_METRICS_TYPE, value: encodeCgroupsV2Metrics(s) } };
    },
    async update(req, ctx) {
      const t = tasks.task(req.id, namespaceOf(ctx.metadata));
      if (req.resources === undefined) return {};
      const res = json(req.resources.value, `resources of "${req.id}"`);
      if (typeof res !== "object" || res === null || Array.isArray(res)) {
        throw new RuntimeError("InvalidArgument", `Invalid resources of "${req.id}": expected a JSON object`);
      }
      await t.sandbox.act({
        kind: "update-container",
        containerId: t.coreId,
        resources: Object.fromEntries(Object.entries(res)),
      });
      return {};
    },
    connect(req, ctx) {
      return Promise.resolve({
        shimPid: Deno.pid,
        taskPid: tasks.find(req.id, namespaceOf(ctx.metadata))?.init.pid ?? 0,
        version: VERSION,
      });
    },
    async shutdown(req, ctx) {
      await hooks.shutdown(req.id, req.now, namespaceOf(ctx.metadata));
      return {};
    },
  });
}
