/**
 * `cocoon exec-guest <id>`: a root shell in the sandbox's guest (not in a container), for
 * debugging. Refused unless `[agent] debug_console_enabled = true`: the VM then has a virtio-serial
 * port `cocoon.debug` whose host side is `<vm state dir>/debug.sock` (QEMU listens; see
 * plugins/hypervisor/qemu/args/console.ts) and the agent runs a shell on it (agent/debug_console.ts).
 * The shell has no terminal: lines go in, output comes back. stdin's end, then the shell's exit
 * (or 2 s of quiet), ends the command with the shell's status.
 *
 * @module
 */
import { RuntimeError } from "../../errors.ts";
import { sandboxId } from "../../ids.ts";
import { openSandboxRuntime } from "../../sandbox/mod.ts";
import type { Command } from "../args.ts";
import { parseVerb, withStateDir } from "../oci_args.ts";

/** Where QEMU listens for the debug console of a VM (the QEMU plugin's `debugConsoleSocket`). */
function debugSocketOf(vmStateDir: string): string {
  return `${vmStateDir.replace(/\/+$/, "")}/debug.sock`;
}

const EXIT_MARK = /\[debug shell exited with status (\d+)\]\n?$/;

export const execGuest: Command = {
  summary: "Open a debug shell in a sandbox's guest (needs [agent] debug_console_enabled = true)",
  usage: "cocoon exec-guest <sandbox-id>   (commands on stdin; the shell's exit status is ours)",
  async run(args, ctx) {
    const { positionals } = parseVerb("exec-guest", args, {});
    const id = positionals[0];
    if (id === undefined || id === "" || positionals.length > 1) {
      throw new RuntimeError(
        "InvalidArgument",
        'Invalid arguments for "exec-guest": one sandbox id is required',
      );
    }
    const cfg = withStateDir(await ctx.config(), ctx.globals.root);
    if (!cfg.agent.debugConsoleEnabled) {
      throw new RuntimeError(
        "FailedPrecondition",
        `Cannot open a debug shell in sandbox "${id}": the debug console is off: set [agent] debug_console_enabled = true`,
      );
    }
    const rt = await openSandboxRuntime(cfg, { log: ctx.log, registry: await ctx.registry() });
    const r = await rt.repo.loadSandbox(sandboxId(id));
    if (r.vm === null || r.status.kind !== "ready") {
      throw new RuntimeError(
        "FailedPrecondition",
        `Cannot open a debug shell in sandbox "${id}": it is ${r.status.kind}, not ready`,
      );
    }
    const path = debugSocketOf(r.vm.stateDir);
    let conn: Deno.UnixConn;
    try {
      conn = await Deno.connect({ transport: "unix", path });
    } catch (e) {
      throw new RuntimeError(
        e instanceof Deno.errors.NotFound ? "FailedPrecondition" : "Unavailable",
        `Cannot open a debug shell in sandbox "${id}": ${
          e instanceof Deno.errors.NotFound ? "its VM was started without the debug console" : String(e)
        }`,
        { cause: e },
      );
    }
    return await relay(conn);
  },
};

async function relay(conn: Deno.UnixConn): Promise<number> {
  let tail = "";
  let lastOutput = Date.now();
  let inputDone = false;
  const dec = new TextDecoder();
  const finished = Promise.withResolvers<number>();
  const output = (async () => {
    try {
      for await (const chunk of conn.readable) {
        await Deno.stdout.write(chunk);
        lastOutput = Date.now();
        tail = (tail + dec.decode(chunk, { stream: true })).slice(-200);
        const m = EXIT_MARK.exec(tail);
        if (m) finished.resolve(Number(m[1]));
      }
    } catch {
      // closed
    }
    finished.resolve(0);
  })();
  const input = (async () => {
    const w = conn.writable.getWriter();
    try {
      await w.write(new TextEncoder().encode("\n")); // starts the shell; its prompt shows
      for await (const chunk of Deno.stdin.readable) await w.write(chunk);
    } catch {
      // the guest side closed
    }
    w.releaseLock();
    inputDone = true;
  })();
  const quiet = setInterval(() => {
    if (inputDone && Date.now() - lastOutput > 2000) finished.resolve(0);
  }, 250);
  try {
    return await finished.promise;
  } finally {
    clearInterval(quiet);
    try {
      conn.close();
    } catch { /* closed */ }
    await output;
    void input;
  }
}
