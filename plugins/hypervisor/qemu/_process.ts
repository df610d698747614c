/**
 * Process helpers for the QEMU plugin: liveness and identity of a pid, signals, file tails.
 *
 * @module
 */
import { readFileTail } from "../../../runtime/sys/file_tail.ts";

/*
 * Deno 2 asks for --allow-all to read /proc/<pid>/*, so liveness and identity come from `ps`.
 */

async function ps(pid: number, field: "stat" | "args"): Promise<string | undefined> {
  const out = await new Deno.Command("ps", {
    args: ["-ww", "-o", `${field}=`, "-p", String(pid)],
    stdout: "piped",
    stderr: "null",
  }).output();
  return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
}

/** True while `pid` exists and is not a zombie. */
export async function pidAlive(pid: number): Promise<boolean> {
  const stat = await ps(pid, "stat");
  return stat !== undefined && stat !== "" && !stat.startsWith("Z") && !stat.startsWith("X");
}

/** The command line of `pid` (arguments joined by spaces), or undefined when it is gone. */
export async function readCmdline(pid: number): Promise<string | undefined> {
  return await ps(pid, "args");
}

/** The pid in a pidfile, or undefined when missing or malformed. */
export async function readPidFile(path: string): Promise<number | undefined> {
  try {
    const n = Number((await Deno.readTextFile(path)).trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The last `bytes` of a file as text (empty when missing). */
export async function tail(path: string, bytes = 2048): Promise<string> {
  return new TextDecoder().decode(await readFileTail(path, bytes));
}

/** Polls until `pid` is gone or `timeoutMs` passes; resolves true when it is gone. */
export async function waitPidGone(pid: number, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (await pidAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return true;
}

/**
 * Sends `sig` to `pid` with the `kill` program (Deno.kill needs unrestricted run permission),
 * ignoring a pid that is already gone.
 */
export async function signalPid(pid: number, sig: "SIGKILL" | "SIGTERM"): Promise<void> {
  await new Deno.Command("kill", { args: [`-${sig.slice(3)}`, String(pid)], stdout: "null", stderr: "null" })
    .output();
}

/** Removes files, ignoring missing ones. */
export async function removeFiles(paths: readonly string[]): Promise<void> {
  for (const p of paths) await Deno.remove(p).catch(() => {});
}

const STDERR_MAX = 8192;

/** Reads a stream into a bounded buffer until stopped; `done` resolves with what was read. */
export function collect(stream: ReadableStream<Uint8Array>): { done: Promise<string>; stop(): void } {
  const reader = stream.getReader();
  let text = "";
  const dec = new TextDecoder();
  const done = (async () => {
    try {
      while (true) {
        const r = await reader.read();
        if (r.done) break;
        text = (text + dec.decode(r.value, { stream: true })).slice(-STDERR_MAX);
      }
    } catch {
      // cancelled
    }
    return text;
  })();
  return {
    done,
    stop: () => void reader.cancel().catch(() => {}),
  };
}
