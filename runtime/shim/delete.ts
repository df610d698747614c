/**
 * `containerd-shim-cocoon-v2 delete`: idempotent clean-up of one container (containerd runs it
 * after every task removal and after a shim crash). Through the daemon when it is up (Cleanup:
 * kill, remove, unmount, the pod's VM goes with its last container); otherwise directly on the
 * sandbox store (the daemon died: the VM may still run). Always unmounts `<bundle>/rootfs`, and
 * answers a DeleteResponse (exit status 137, now, the pid the daemon knew).
 *
 * @module
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { loadConfig } from "../config/load.ts";
import { isRuntimeError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { DeleteResponseSchema } from "../protocol/gen/containerd/task/v2/shim_pb.ts";
import { openSandboxRuntime, Sandbox } from "../sandbox/mod.ts";
import { unmountRootfs } from "../daemon/rootfs.ts";
import { daemonDir, daemonPaths, podSandboxId } from "./address.ts";
import { canConnect, controlCall } from "./daemon_client.ts";
import type { ShimFlags } from "./flags.ts";
import { readRegistration } from "./registration.ts";

export interface DeleteEnv {
  readonly bundle: string;
  readonly env: (name: string) => string | undefined;
  readonly log: Logger;
}

/** The DeleteResponse bytes. Pure. */
export function deleteResponse(pid: number, exitStatus: number, exitedAt: Date): Uint8Array {
  return toBinary(
    DeleteResponseSchema,
    create(DeleteResponseSchema, { pid, exitStatus, exitedAt: timestampFromDate(exitedAt) }),
  );
}

/** Does `delete`; returns the DeleteResponse bytes to write to stdout. */
export async function shimDelete(flags: ShimFlags, opts: DeleteEnv): Promise<Uint8Array> {
  const log = opts.log;
  const reg = await readRegistration(opts.bundle).catch((e) => {
    log.warn("registration unreadable", { error: e });
    return null;
  });
  const paths = daemonPaths(reg?.daemonDir ?? daemonDir(opts.env));
  const sandbox = podSandboxId(flags.namespace, reg?.group ?? flags.id);
  let pid = 0;
  if (await canConnect(paths.socket)) {
    try {
      const r = await controlCall(paths, "Cleanup", {
        id: flags.id,
        namespace: flags.namespace,
        ...(reg !== null
          ? { group: reg.group, ...(reg.coreId !== undefined ? { coreId: reg.coreId } : {}) }
          : {}),
      }, {
        timeoutMs: 60_000,
      });
      if (typeof r === "object" && r !== null && "pid" in r && typeof r.pid === "number") pid = r.pid;
    } catch (e) {
      log.warn("daemon cleanup failed", { container: flags.id, error: e });
      await localCleanup(reg?.coreId ?? flags.id, sandbox, reg?.configPath, log);
    }
  } else {
    await localCleanup(reg?.coreId ?? flags.id, sandbox, reg?.configPath, log);
  }
  await unmountRootfs(`${opts.bundle}/rootfs`).catch((e) => log.warn("unmount failed", { error: e }));
  return deleteResponse(pid, 137, new Date());
}

/** Without a daemon: remove the container from its sandbox; the last one out deletes the VM. */
async function localCleanup(
  id: string,
  sandbox: string,
  configPath: string | undefined,
  log: Logger,
): Promise<void> {
  const rt = await openSandboxRuntime(
    await loadConfig(configPath !== undefined ? { path: configPath } : {}),
    {
      log,
    },
  );
  let sb: Sandbox;
  try {
    sb = await Sandbox.fetch(rt, sandbox);
  } catch (e) {
    if (isRuntimeError(e) && e.code === "NotFound") return;
    log.warn("sandbox fetch failed", { sandbox, error: e });
    return;
  }
  try {
    await sb.act({ kind: "delete-container", containerId: id, opts: { force: true } }).catch((e) => {
      if (!(isRuntimeError(e) && e.code === "NotFound")) throw e;
    });
    if ((await sb.containers()).length === 0) {
      await sb.act({ kind: "delete", opts: { force: true } });
      log.info("sandbox deleted by the delete binary", { sandbox });
    } else {
      await sb.release();
    }
  } catch (e) {
    log.warn("local cleanup failed", { container: id, sandbox, error: e });
    await sb.release();
  }
}
