/**
 * Actions on a sandbox an OCI-CLI holder owns, through its control socket (runtime/holder/wire.ts).
 * A holder's sandbox has one container whose id is the sandbox id; pause and resume freeze that
 * container (the holder's ops), not the VM.
 *
 * @module
 */
import { isRuntimeError, RuntimeError } from "../../errors.ts";
import { removeContainerState, waitHolderGone } from "../../holder/cleanup.ts";
import { callHolder, openHolder } from "../../holder/client.ts";
import { readHolderInfo } from "../../holder/info.ts";
import { ociPaths } from "../../holder/paths.ts";
import { containerId } from "../../ids.ts";
import type { Logger } from "../../log/logger.ts";
import type { SandboxRuntime } from "../../sandbox/runtime.ts";
import { exitStatusOf } from "../../holder/handlers.ts";
import { encodeFrame, FRAME } from "../../holder/wire.ts";
import { execProcessSpec, randomId } from "../library/container_api.ts";
import type { ExecEvent, ExecRequest, GuestStatsView } from "./types.ts";
import { removeTree } from "../../sys/safe_remove.ts";

/** Killed: the status of a process whose stream ended without an exit frame. */
const LOST_STATUS = 137;

export function holderPause(socket: string): Promise<unknown> {
  return callHolder(socket, { op: "pause" }, { timeoutMs: 30_000 });
}

export function holderResume(socket: string): Promise<unknown> {
  return callHolder(socket, { op: "resume" }, { timeoutMs: 30_000 });
}

/**
 * Deletes an OCI container as `cocoon delete` does: the holder removes the sandbox and exits, then
 * its socket and OCI state directory go. A holder that cannot answer is killed when `force`.
 */
export async function holderDelete(
  rt: SandboxRuntime,
  id: string,
  force: boolean,
  log: Logger,
): Promise<void> {
  const paths = ociPaths(rt.config.runtime.stateDir, containerId(id));
  const info = await readHolderInfo(paths.info);
  if (info !== null) {
    try {
      await callHolder(info.socket, { op: "delete", force }, { timeoutMs: 60_000 });
    } catch (e) {
      if (!force || (isRuntimeError(e) && e.code === "FailedPrecondition")) throw e;
      log.warn("holder did not answer delete, killing it", { container: id, error: e });
    }
    if (!await waitHolderGone(info, 10_000, force)) {
      throw new RuntimeError(
        "DeadlineExceeded",
        `Cannot delete container "${id}": its holder ${info.pid} still runs`,
      );
    }
  }
  await removeContainerState(rt, containerId(id), paths, log);
}

/** Removes the OCI state directory of a container whose holder is gone (after a delete). */
export async function removeOciLeftovers(rt: SandboxRuntime, id: string): Promise<void> {
  let paths;
  try {
    paths = ociPaths(rt.config.runtime.stateDir, containerId(id));
  } catch {
    return; // not a container id: not an OCI container
  }
  await Deno.remove(paths.socket).catch(() => {});
  await removeTree(paths.dir).catch(() => {});
}

function num(x: unknown): number | null {
  return typeof x === "number" && Number.isFinite(x) ? x : null;
}

function field(x: unknown, k: string): unknown {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return undefined;
  const v: unknown = Reflect.get(x, k);
  return v;
}

/** Guest stats from a holder's `stats` answer (ContainerStats with numbers). Pure. */
function parseHolderStats(containerId: string, x: unknown): GuestStatsView {
  const ns = num(field(field(x, "cpu"), "usageNs"));
  return {
    containerId,
    cpuSeconds: ns === null ? null : ns / 1e9,
    memoryBytes: num(field(field(x, "memory"), "usageBytes")),
    memoryLimitBytes: num(field(field(x, "memory"), "limitBytes")),
    pids: num(field(field(x, "pids"), "current")),
  };
}

export async function holderStats(socket: string, containerId: string): Promise<GuestStatsView> {
  return parseHolderStats(containerId, await callHolder(socket, { op: "stats" }, { timeoutMs: 5000 }));
}

/** Runs a process through the holder; yields its output and its exit status. */
export async function holderExec(
  socket: string,
  containerId: string,
  req: ExecRequest,
  opts: { signal?: AbortSignal } = {},
): Promise<AsyncIterable<ExecEvent>> {
  const process = execProcessSpec(containerId, {
    args: req.args,
    ...(req.env !== undefined ? { env: req.env } : {}),
    ...(req.cwd !== undefined ? { cwd: req.cwd } : {}),
  });
  const execId = randomId("http");
  const h = await openHolder(socket, { op: "exec", execId, process: { ...process } });
  const close = () => {
    try {
      h.conn.close();
    } catch { /* closed */ }
  };
  opts.signal?.addEventListener("abort", close, { once: true });
  const w = h.conn.writable.getWriter();
  await w.write(encodeFrame(FRAME.stdinClose));
  w.releaseLock();
  const dec = { out: new TextDecoder(), err: new TextDecoder() };
  return (async function* () {
    try {
      yield { kind: "started", execId };
      for (;;) {
        const f = await h.reader.readFrame().catch(() => null);
        if (f === null) {
          yield { kind: "exit", status: LOST_STATUS };
          return;
        }
        if (f.type === FRAME.stdout) {
          yield { kind: "stdout", data: dec.out.decode(f.payload, { stream: true }) };
        } else if (f.type === FRAME.stderr) {
          yield { kind: "stderr", data: dec.err.decode(f.payload, { stream: true }) };
        } else if (f.type === FRAME.exit) {
          yield { kind: "exit", status: exitStatusOf(f.payload) };
          return;
        }
      }
    } finally {
      opts.signal?.removeEventListener("abort", close);
      close();
    }
  })();
}

export function notHolderContainer(id: string, cid: string): RuntimeError {
  return new RuntimeError("NotFound", `Cannot find container "${cid}" in sandbox "${id}": it does not exist`);
}
