/**
 * Actions on a sandbox an OCI-CLI holder owns, through its control socket (runtime/holder/wire.ts).
 * A holder's sandbox has one container whose id is the sandbox id; pause and resume freeze that
 * container (the holder's ops), not the VM.
 *
 * @module
 */
import { RuntimeError } from "../../errors.ts";
import { callHolder, openHolder } from "../../holder/client.ts";
import { holderAlive, readHolderInfo } from "../../holder/info.ts";
import { deleteOciContainer } from "../../holder/remove.ts";
import { ociPaths } from "../../holder/paths.ts";
import { containerId } from "../../ids.ts";
import type { Logger } from "../../log/logger.ts";
import type { SandboxRuntime } from "../../sandbox/runtime.ts";
import { holderOutput } from "../../holder/exec_client.ts";
import { encodeFrame, FRAME } from "../../holder/wire.ts";
import { execProcessSpec, randomId } from "../library/container_api.ts";
import type { ExecEvent, ExecRequest, GuestStatsView } from "./types.ts";
import { removeTree } from "../../sys/safe_remove.ts";

export function holderPause(socket: string): Promise<unknown> {
  return callHolder(socket, { op: "pause" }, { timeoutMs: 30_000 });
}

export function holderResume(socket: string): Promise<unknown> {
  return callHolder(socket, { op: "resume" }, { timeoutMs: 30_000 });
}

/** Deletes an OCI container as `cocoon delete` does (runtime/holder/remove.ts). */
export async function holderDelete(
  rt: SandboxRuntime,
  id: string,
  force: boolean,
  log: Logger,
): Promise<void> {
  const paths = ociPaths(rt.config.runtime.stateDir, containerId(id));
  const info = await readHolderInfo(paths.info);
  const alive = info !== null && await holderAlive(info);
  await deleteOciContainer(rt, { id: containerId(id), paths, info, alive, force }, log);
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
      for await (const x of holderOutput(h)) {
        yield x.kind === "exit" ? x : {
          kind: x.kind,
          data: (x.kind === "stdout" ? dec.out : dec.err).decode(x.data, { stream: true }),
        };
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
