/**
 * Reaching the daemon from the shim binary: is it up, start it detached when it is not (one
 * starter at a time, under `start.lock`), and its control calls.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import { selfCommand } from "../holder/spawn.ts";
import { TtrpcClient } from "../protocol/ttrpc/mod.ts";
import type { DaemonPaths } from "./address.ts";

/** The daemon's control service (see runtime/daemon/daemon.ts). */
const CONTROL_SERVICE = "cocoon.daemon.v1.Shim";

/** True when something accepts connections on `socket`. */
export async function canConnect(socket: string): Promise<boolean> {
  try {
    const c = await Deno.connect({ transport: "unix", path: socket });
    c.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes sure the daemon listens in `paths.dir`: when nothing accepts on the socket, starts
 * `cocoon daemon --dir DIR` in its own session with stdio on /dev/null (it outlives this process
 * and holds none of containerd's pipes), with this environment plus `env`, and waits until the
 * socket accepts.
 */
export async function ensureDaemon(
  paths: DaemonPaths,
  opts: {
    timeoutMs?: number;
    env?: Readonly<Record<string, string>>;
    /** The cocoon program to start (default: this program; a library caller names the installed one). */
    program?: string;
  } = {},
): Promise<void> {
  if (await canConnect(paths.socket)) return;
  await Deno.mkdir(paths.dir, { recursive: true, mode: 0o700 });
  const lock = await Deno.open(paths.lockFile, { read: true, write: true, create: true, mode: 0o600 });
  try {
    await lock.lock(true);
    if (await canConnect(paths.socket)) return;
    const c = opts.program !== undefined
      ? { cmd: opts.program, args: ["daemon", "--dir", paths.dir] }
      : selfCommand(["daemon", "--dir", paths.dir]);
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(c.cmd, {
        args: [...c.args],
        stdin: "null",
        stdout: "null",
        stderr: "null",
        ...(opts.env !== undefined ? { env: { ...opts.env } } : {}),
        detached: true,
      }).spawn();
    } catch (e) {
      throw new RuntimeError("Unavailable", `Cannot start the Cocoon daemon "${c.cmd}": ${String(e)}`, {
        cause: e,
      });
    }
    child.unref();
    let exited: Deno.CommandStatus | undefined;
    child.status.then((s) => (exited = s), () => {});
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
    while (!(await canConnect(paths.socket))) {
      if (exited !== undefined) {
        throw new RuntimeError(
          "Unavailable",
          `Cannot start the Cocoon daemon: it exited with code ${exited.code} (see "${paths.logFile}")`,
        );
      }
      if (Date.now() > deadline) {
        throw new RuntimeError(
          "DeadlineExceeded",
          `Cannot start the Cocoon daemon: "${paths.socket}" not listening after ${
            opts.timeoutMs ?? 30_000
          } ms`,
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    lock.close();
  }
}

/** One JSON control call to the daemon. */
export async function controlCall(
  paths: DaemonPaths,
  method:
    | "Register"
    | "Cleanup"
    | "ServeSandboxer"
    | "StopSandboxer"
    | "ServeVmCache"
    | "HoldSandbox"
    | "LendSandbox",
  body: Readonly<Record<string, unknown>>,
  opts: { timeoutMs?: number } = {},
): Promise<unknown> {
  const client = await TtrpcClient.connect(paths.socket);
  try {
    const out = await client.call(
      CONTROL_SERVICE,
      method,
      new TextEncoder().encode(JSON.stringify(body)),
      { timeoutMs: opts.timeoutMs ?? 30_000 },
    );
    return JSON.parse(new TextDecoder().decode(out));
  } finally {
    await client.close();
  }
}
