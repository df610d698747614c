/**
 * The sandboxer server: the Controller over gRPC (HTTP/2, h2c) on a unix socket with
 * `@grpc/grpc-js`, and, in the same process, the Task API of its sandboxes whose address Start
 * returns (`ttrpc+unix://<task dir>/task.sock`, version 2).
 *
 * ```ts
 * const s = await startSandboxer({ listen: "/run/cocoon/sandboxer.sock", taskDir, runtime, log });
 * await s.close();
 * ```
 *
 * @module
 */
import { listenPrivate } from "../sys/private_socket.ts";
import { closeOnExec } from "../sys/libc_fd.ts";
import * as grpc from "@grpc/grpc-js";
import { RuntimeError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { grpcUnaryService } from "../protocol/grpc.ts";
import { Controller } from "../protocol/gen/containerd/services/sandbox/v1/sandbox_pb.ts";
import type { Sandbox, SandboxRuntime } from "../sandbox/mod.ts";
import { SandboxController } from "./controller.ts";
import { isuladService } from "./isulad_service.ts";
import { startTaskApi, type TaskApi } from "./task_api.ts";
import { type FrontDoorApi, serveFrontDoorApi } from "../api/http/front_door.ts";

export interface StartSandboxerOptions {
  /** Unix socket path of the Controller. */
  readonly listen: string;
  /** Directory of the Task API socket (`task.sock`). */
  readonly taskDir: string;
  /** containerd's ttRPC address and namespace for task events (default: none published). */
  readonly events?: { readonly ttrpcAddress: string; readonly namespace: string };
  readonly runtime: SandboxRuntime;
  readonly log: Logger;
  /**
   * Which Controller messages the socket speaks: containerd 2.0's (default) or iSulad's (with
   * Prepare/Purge/UpdateResources; bundles of Prepare under `<taskDir>/bundles`).
   */
  readonly flavour?: "containerd" | "isulad";
  /** Serve the management API on `<taskDir>/api.sock` (+ `[runtime] api_listen`). @default true */
  readonly api?: boolean;
  /** Sandboxes the host daemon already holds (SandboxerOptions.claim). */
  readonly claim?: (coreId: string) => Sandbox | undefined;
}

export interface Sandboxer {
  readonly controller: SandboxController;
  readonly taskApi: TaskApi;
  /** `ttrpc+unix://...`: the Task API endpoint that Start returns. */
  readonly taskAddress: string;
  /**
   * Stops serving and removes the socket. With `deleteSandboxes`, deletes every sandbox; else the
   * VMs keep running and a restarted sandboxer adopts them.
   */
  close(opts?: { deleteSandboxes?: boolean }): Promise<void>;
}

/** Starts the Task API and the Controller; resolves once both listen. */
export async function startSandboxer(opts: StartSandboxerOptions): Promise<Sandboxer> {
  const log = opts.log;
  const taskAddress = `ttrpc+unix://${opts.taskDir}/task.sock`;
  const controller = new SandboxController({
    runtime: opts.runtime,
    log: log.child({ subsystem: "sandboxer" }),
    taskAddress,
    taskVersion: 2,
    ...(opts.claim !== undefined ? { claim: opts.claim } : {}),
  });
  const taskApi = await startTaskApi({
    dir: opts.taskDir,
    runtime: opts.runtime,
    log: log.child({ subsystem: "task-api" }),
    sandboxOf: (id) => controller.running(id),
    ...(opts.events !== undefined ? { events: opts.events } : {}),
  });
  const server = new grpc.Server();
  if (opts.flavour === "isulad") {
    server.addService(...isuladService({ controller, bundleRoot: `${opts.taskDir}/bundles`, log }));
  } else {
    server.addService(...grpcUnaryService(Controller, controller.handlers(), { log }));
  }
  try {
    await listenPrivate(opts.listen, (p) =>
      new Promise<number>((resolve, reject) =>
        server.bindAsync(
          `unix://${p}`,
          grpc.ServerCredentials.createInsecure(),
          (e, port) => e ? reject(e) : resolve(port),
        )
      ));
    closeOnExec(); // node:net's listener is inheritable: no VMM may keep it
  } catch (cause) {
    server.forceShutdown();
    await taskApi.close();
    throw new RuntimeError("Unavailable", `Cannot listen on "${opts.listen}": ${String(cause)}`, { cause });
  }
  let api: FrontDoorApi | undefined;
  if (opts.api !== false) {
    try {
      api = await serveFrontDoorApi({
        dir: opts.taskDir,
        listen: opts.runtime.config.runtime.apiListen,
        runtime: opts.runtime,
        log: log.child({ subsystem: "api" }),
        inProcess: (id) => controller.byCoreId(id),
        refuseDelete: (id) =>
          `Cannot delete sandbox "${id}": its client (${opts.flavour ?? "containerd"}) owns its lifecycle ` +
          `through cocoon sandboxer (pid ${Deno.pid}): shut it down there`,
      });
    } catch (e) {
      log.error("management API not served", { error: e });
    }
  }
  log.info("sandboxer listening", {
    socket: opts.listen,
    taskAddress,
    flavour: opts.flavour ?? "containerd",
  });
  let closing: Promise<void> | undefined;
  const close = (o: { deleteSandboxes?: boolean } = {}): Promise<void> => {
    closing ??= (async () => {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
      await api?.close();
      if (o.deleteSandboxes === true) await controller.closeAll();
      else await controller.releaseAll();
      await taskApi.close();
      await Deno.remove(opts.listen).catch(() => {});
    })();
    return closing;
  };
  return { controller, taskApi, taskAddress, close };
}
