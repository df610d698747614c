/**
 * Library sandboxes kept by `cocoon daemon` (`createSandbox({ owner: "daemon" })`): the program
 * holds the sandbox while it works with it; its release hands the sandbox to the host daemon
 * (control call `HoldSandbox`, the daemon started when none runs), which then owns it: it outlives
 * the program, the daemon's management API acts on it, a restarted daemon takes it over, and so
 * does the daemon when the program dies holding it. `fetchSandbox` borrows it back
 * (`LendSandbox`) before attaching.
 *
 * @module
 */
import { SandboxError } from "../../errors.ts";
import { sandboxId } from "../../ids.ts";
import type { SandboxRuntime } from "../../sandbox/runtime.ts";
import { liveOwner } from "../../sandbox/owner.ts";
import { daemonDir, daemonPaths } from "../../shim/address.ts";
import { controlCall, ensureDaemon } from "../../shim/daemon_client.ts";
import type { ConnectOptions } from "./types.ts";

/** The cocoon program that runs the daemon for a library caller. */
function daemonProgram(opts: ConnectOptions): string {
  const self = Deno.env.get("COCOON_SELF");
  return opts.daemonProgram ?? (self !== undefined && self !== "" ? self : "cocoon");
}

/** Hands the released sandbox `id` to the host daemon (started when none runs). */
export async function handToDaemon(rt: SandboxRuntime, id: string, opts: ConnectOptions): Promise<void> {
  const paths = daemonPaths(opts.daemonDir ?? daemonDir());
  const configPath = rt.config.source.file;
  try {
    await ensureDaemon(paths, {
      program: daemonProgram(opts),
      ...(configPath !== undefined ? { env: { COCOON_CONFIG: configPath } } : {}),
    });
    await controlCall(paths, "HoldSandbox", { id, ...(configPath !== undefined ? { configPath } : {}) });
  } catch (cause) {
    throw new SandboxError(
      "Unavailable",
      `Cannot hand sandbox "${id}" to the Cocoon daemon in "${paths.dir}": ${
        cause instanceof Error ? cause.message : String(cause)
      } (the VM keeps running; the daemon takes it over once it runs)`,
      { cause },
    );
  }
}

/**
 * Before this process attaches `id`: when a live `cocoon daemon` holds it, borrows it back (a
 * sandbox kept for a library caller), or refuses (a sandbox of one of its front doors).
 */
export async function borrowFromDaemon(rt: SandboxRuntime, id: string): Promise<void> {
  const r = await rt.repo.loadSandbox(sandboxId(id));
  const owner = await liveOwner(r.owner);
  if (owner === null || owner.kind !== "daemon" || owner.pid === Deno.pid) return;
  if (r.keeper !== "daemon") {
    throw new SandboxError(
      "FailedPrecondition",
      `Cannot fetch sandbox "${id}": cocoon daemon (pid ${owner.pid}) holds it for containerd or a Sandbox API client; act on it through its management API (${owner.api})`,
    );
  }
  const dir = owner.api.slice(0, owner.api.lastIndexOf("/"));
  await controlCall(daemonPaths(dir), "LendSandbox", { id });
}
