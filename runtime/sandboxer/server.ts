/**
 * The sandboxer server: the Controller over gRPC (HTTP/2, h2c) on a unix socket with
 * `@grpc/grpc-js`, and, in the same process, the Cocoon daemon serving the Task API whose address
 * Start returns (`ttrpc+unix://<daemon dir>/cocoon.sock`, version 2).
 *
 * ```ts
 * const s = await startSandboxer({ listen: "/run/cocoon/sandboxer.sock", daemonDir, runtime, log });
 * await s.close();
 * ```
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { type Daemon, startDaemon } from "../daemon/daemon.ts";
import { RuntimeError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { grpcUnaryService } from "../protocol/grpc.ts";
import { Controller } from "../protocol/gen/containerd/services/sandbox/v1/sandbox_pb.ts";
import type { SandboxRuntime } from "../sandbox/mod.ts";
import { SandboxController } from "./controller.ts";

export interface StartSandboxerOptions {
  /** Unix socket path of the Controller. */
  readonly listen: string;
  /** Directory of the in-process daemon (Task API socket). */
  readonly daemonDir: string;
  readonly runtime: SandboxRuntime;
  readonly log: Logger;
}

export interface Sandboxer {
  readonly controller: SandboxController;
  readonly daemon: Daemon;
  /** `ttrpc+unix://...`: the Task API endpoint that Start returns. */
  readonly taskAddress: string;
  /**
   * Stops serving and removes the socket. With `deleteSandboxes`, deletes every sandbox; else the
   * VMs keep running and a restarted sandboxer adopts them.
   */
  close(opts?: { deleteSandboxes?: boolean }): Promise<void>;
}

/** Starts the daemon and the Controller; resolves once both listen. */
export async function startSandboxer(opts: StartSandboxerOptions): Promise<Sandboxer> {
  const log = opts.log;
  const daemon = await startDaemon({
    dir: opts.daemonDir,
    runtime: opts.runtime,
    log: log.child({ subsystem: "daemon" }),
    exitWhenIdle: false,
  });
  const taskAddress = `ttrpc+unix://${daemon.paths.socket}`;
  const controller = new SandboxController({
    runtime: opts.runtime,
    log: log.child({ subsystem: "sandboxer" }),
    taskAddress,
    taskVersion: 2,
  });
  const server = new grpc.Server();
  server.addService(...grpcUnaryService(Controller, controller.handlers(), { log }));
  try {
    await Deno.remove(opts.listen).catch(() => {});
    await new Promise<number>((resolve, reject) =>
      server.bindAsync(
        `unix://${opts.listen}`,
        grpc.ServerCredentials.createInsecure(),
        (e, port) => e ? reject(e) : resolve(port),
      )
    );
    await Deno.chmod(opts.listen, 0o600);
  } catch (cause) {
    server.forceShutdown();
    await daemon.close();
    throw new RuntimeError("Unavailable", `Cannot listen on "${opts.listen}": ${String(cause)}`, { cause });
  }
  log.info("sandboxer listening", { socket: opts.listen, taskAddress });
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
      if (o.deleteSandboxes === true) await controller.closeAll();
      else controller.releaseAll();
      await daemon.close({ deletePods: o.deleteSandboxes === true });
      await Deno.remove(opts.listen).catch(() => {});
    })();
    return closing;
  };
  return { controller, daemon, taskAddress, close };
}
