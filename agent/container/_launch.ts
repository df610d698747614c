/**
 * Shared by create and exec: run the runtime command that leaves a process behind (`create`,
 * `exec --detach`), wire the process's stdio (the helper's pipes, which the process inherits, or a
 * pty master received on a console socket), read its pid file and hand the pid to the reaper.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import type { ConsoleListener, Terminal } from "../sys/console.ts";
import { drainText, oneLine } from "./env.ts";
import type { ContainerEnv } from "./env.ts";
import { AgentProcess, type ProcessStdio } from "./state.ts";

export interface LaunchArgs {
  readonly argv: readonly string[];
  readonly containerId: string;
  readonly execId: string;
  readonly terminal: boolean;
  readonly pidFile: string;
  /** Console socket path (terminal only); must already be part of `argv`. */
  readonly consoleSocket?: string;
  /** For messages: `create container "c1"`. */
  readonly what: string;
  readonly timeoutMs?: number;
}

export async function launch(env: ContainerEnv, a: LaunchArgs): Promise<AgentProcess> {
  let listener: ConsoleListener | undefined;
  if (a.terminal) {
    if (!a.consoleSocket) {
      throw new RuntimeError("InvalidArgument", `Cannot ${a.what}: no console socket path`);
    }
    listener = env.consoles.listen(a.consoleSocket);
  }
  try {
    const child = env.runner.spawn(a.argv, {
      stdin: a.terminal ? "null" : "piped",
      stdout: a.terminal ? "null" : "piped",
      stderr: "piped",
    });
    const ac = new AbortController();
    const terminalP: Promise<Terminal> | undefined = listener?.accept({
      signal: ac.signal,
      timeoutMs: a.timeoutMs ?? 30_000,
    });
    terminalP?.catch(() => {});
    const code = await child.status;
    if (code !== 0) {
      ac.abort();
      const err = await drainText(child.stderr, 2000);
      child.stdout?.cancel().catch(() => {});
      child.stdin?.abort().catch(() => {});
      throw new RuntimeError(
        "Internal",
        `Cannot ${a.what}: ${env.runtime.kind} exited with code ${code}: ${oneLine(err)}`,
      );
    }
    const pid = parsePid(await env.fs.readTextFile(a.pidFile), a.pidFile);
    const exited = env.waiter.watch(pid);
    let stdio: ProcessStdio;
    if (terminalP) {
      let terminal: Terminal;
      try {
        terminal = await terminalP;
      } catch (e) {
        env.signal(pid, 9);
        await exited.catch(() => {});
        throw new RuntimeError("Internal", `Cannot ${a.what}: no terminal was received`, { cause: e });
      }
      drainToLog(env, child.stderr, a.containerId);
      stdio = { kind: "terminal", terminal };
    } else {
      stdio = { kind: "pipes", stdin: child.stdin, stdout: child.stdout, stderr: child.stderr };
    }
    return new AgentProcess({ containerId: a.containerId, execId: a.execId, pid }, stdio, exited);
  } finally {
    listener?.close();
  }
}

/** Validates the content of a pid file. Pure. */
export function parsePid(text: string, path: string): number {
  const t = text.trim();
  if (!/^\d{1,10}$/.test(t) || Number(t) <= 0) {
    throw new RuntimeError(
      "Internal",
      `Cannot read pid file "${path}": expected a positive integer: got "${t.slice(0, 20)}"`,
    );
  }
  return Number(t);
}

/** Runtime chatter on the helper's stderr (terminal mode) goes to the log, rate-limited. */
function drainToLog(env: ContainerEnv, s: ReadableStream<Uint8Array> | null, container: string): void {
  if (!s) return;
  (async () => {
    const dec = new TextDecoder();
    for await (const c of s) {
      env.log.limited.warn("runtime output", { container, text: dec.decode(c).slice(0, 500) });
    }
  })().catch(() => {});
}
