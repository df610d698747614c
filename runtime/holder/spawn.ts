/**
 * Re-executing Cocoon: the holder (and a detached `exec`) is this same program started again with
 * a hidden verb, detached into its own session, inheriting the caller's stdio fds 0/1/2.
 *
 * Which program: `$COCOON_SELF` when set (a launcher script of a bundled install), else this
 * executable; when that is the `deno` runtime itself, `deno run --allow-all <main module>`.
 *
 * @module
 */
import { HOST_ALLOW_FLAGS } from "../permissions.ts";
import { fileURLToPath } from "node:url";
import { RuntimeError } from "../errors.ts";
import { processStartTime } from "../sys/process_identity.ts";

export interface SelfCommand {
  readonly cmd: string;
  readonly args: readonly string[];
}

/** The command line that runs Cocoon with `args`. */
export function selfCommand(args: readonly string[]): SelfCommand {
  const self = Deno.env.get("COCOON_SELF");
  if (self !== undefined && self !== "") return { cmd: self, args };
  const exe = Deno.execPath();
  const base = exe.slice(exe.lastIndexOf("/") + 1);
  if (base === "deno" || base === "deno.exe") {
    const main = Deno.mainModule.startsWith("file:") ? fileURLToPath(Deno.mainModule) : Deno.mainModule;
    return { cmd: exe, args: ["run", ...HOST_ALLOW_FLAGS, "--quiet", main, ...args] };
  }
  return { cmd: exe, args };
}

/**
 * Starts Cocoon detached (new session); the caller polls its readiness. With `stdio: "inherit"` it
 * gets the caller's stdio (the container's, for a runc caller); with `"null"` it holds none of them:
 * a caller that reads our output to EOF (containerd's runc shim does for a terminal container,
 * whose I/O goes through the console socket) must see it when this process exits.
 */
export function spawnSelfDetached(
  args: readonly string[],
  stdio: "inherit" | "null" = "inherit",
): Deno.ChildProcess {
  const c = selfCommand(args);
  try {
    return new Deno.Command(c.cmd, {
      args: [...c.args],
      stdin: stdio,
      stdout: stdio,
      stderr: stdio,
      detached: true,
    }).spawn();
  } catch (e) {
    throw new RuntimeError(
      "Internal",
      `Cannot start "${c.cmd}": ${e instanceof Error ? e.message : String(e)}`,
      {
        cause: e,
      },
    );
  }
}

export interface ReadyOptions {
  /** Resolves true once the child is ready. */
  readonly ready: () => Promise<boolean>;
  /** The error to throw when the child ended before it was ready. */
  readonly failure: () => Promise<RuntimeError>;
  readonly timeoutMs: number;
  readonly what: string;
}

/** Polls until `ready()`, the child's death (then `failure()`), or the timeout. */
export async function waitReady(child: Deno.ChildProcess, opts: ReadyOptions): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let exited = false;
  child.status.then(() => (exited = true), () => (exited = true));
  for (;;) {
    if (await opts.ready()) return;
    if (exited || await processStartTime(child.pid) === null) {
      if (await opts.ready()) return;
      throw await opts.failure();
    }
    if (Date.now() > deadline) {
      throw new RuntimeError("DeadlineExceeded", `Cannot ${opts.what}: not ready after ${opts.timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
