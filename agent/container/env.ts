/**
 * What every container operation needs, injected: the OCI runtime to drive, how to spawn it, how
 * to learn exit statuses, terminals, files, and where to keep per-process files.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import type { Logger } from "../../runtime/log/logger.ts";
import type { CommandRunner } from "../sys/command.ts";
import { runToEnd } from "../sys/command.ts";
import type { ConsoleProvider } from "../sys/console.ts";
import type { ProcessWaiter } from "../sys/reaper.ts";

/** The OCI runtime CLI: `argv` starts it (["crun"], ["/usr/bin/runc"], or a wrapper), `root` is its state dir. */
export interface OciRuntime {
  readonly kind: "crun" | "runc";
  readonly argv: readonly string[];
  readonly root: string;
}

/** File access the operations need (a fake in unit tests). */
export interface AgentFs {
  readTextFile(path: string): Promise<string>;
  writeTextFile(path: string, data: string): Promise<void>;
  /** Writes into a file that exists (a /proc/sys entry): no create, truncate or chmod. */
  writeExisting(path: string, data: string): Promise<void>;
  remove(path: string): Promise<void>;
  /** Resolves true once `path` exists (re-reading its parent each try), false after `timeoutMs`. */
  waitForPath?(path: string, timeoutMs: number): Promise<boolean>;
}

export interface ContainerEnv {
  readonly runtime: OciRuntime;
  readonly runner: CommandRunner;
  readonly waiter: ProcessWaiter;
  readonly consoles: ConsoleProvider;
  readonly fs: AgentFs;
  /** Sends a signal to a pid; false when it no longer exists. */
  readonly signal: (pid: number, signal: number) => boolean;
  /** Directory for pid files, process.json files and console sockets. */
  readonly stateDir: string;
  /** Root of the cgroup filesystem (default /sys/fs/cgroup). */
  readonly cgroupRoot: string;
  readonly log: Logger;
}

/** The real file adapter. */
export const denoFs: AgentFs = {
  readTextFile: (p) => Deno.readTextFile(p),
  async waitForPath(p, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    const parent = p.slice(0, Math.max(p.lastIndexOf("/"), 1));
    for (;;) {
      try {
        await Deno.stat(p);
        return true;
      } catch {
        // A shared file system (9p) may not show a host bind mount made a moment ago: listing the
        // parent makes the guest look it up again instead of trusting what it saw before.
        try {
          for await (const _ of Deno.readDir(parent)) { /* refresh */ }
        } catch { /* parent missing too: keep waiting */ }
      }
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
  },
  writeTextFile: (p, d) => Deno.writeTextFile(p, d, { mode: 0o600 }),
  async writeExisting(p, d) {
    using f = await Deno.open(p, { write: true });
    const bytes = new TextEncoder().encode(d);
    let off = 0;
    while (off < bytes.length) off += await f.write(bytes.subarray(off));
  },
  async remove(p) {
    try {
      await Deno.remove(p);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  },
};

/** `[...argv, --root, R, ...args]`. */
export function runtimeArgv(rt: OciRuntime, args: readonly string[]): string[] {
  return [...rt.argv, "--root", rt.root, ...args];
}

/** Runs a short runtime command; throws with its error text when it fails. */
export async function runRuntime(
  env: ContainerEnv,
  args: readonly string[],
  what: string,
  opts: { stdin?: string; signal?: AbortSignal } = {},
): Promise<string> {
  const res = await runToEnd(env.runner, runtimeArgv(env.runtime, args), opts);
  if (res.code !== 0) {
    throw new RuntimeError(
      codeOfRuntimeFailure(res.stderr),
      `Cannot ${what}: ${env.runtime.kind} exited with code ${res.code}: ${oneLine(res.stderr)}`,
    );
  }
  return res.stdout;
}

/**
 * crun/runc only report errors as text, so this is the one edge where text is read: it picks the
 * error code, it does not decide control flow inside the agent.
 */
function codeOfRuntimeFailure(stderr: string): "NotFound" | "AlreadyExists" | "Internal" {
  if (/does not exist|not found|No such file or directory.*status/i.test(stderr)) return "NotFound";
  if (/already exists/i.test(stderr)) return "AlreadyExists";
  return "Internal";
}

/** The last meaningful line of tool output, trimmed and bounded. */
export function oneLine(s: string): string {
  const lines = s.split("\n").map((l) => l.trim()).filter((l) => l.length > 0);
  const last = lines.slice(-2).join("; ");
  return (last.length > 0 ? last : "(no output)").slice(0, 500);
}

/** Drains a stream with a deadline (used on failure paths only). */
export async function drainText(s: ReadableStream<Uint8Array> | null, timeoutMs: number): Promise<string> {
  if (!s) return "";
  const reader = s.getReader();
  const timer = setTimeout(() => reader.cancel().catch(() => {}), timeoutMs);
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      if (total < 65536) {
        chunks.push(r.value);
        total += r.value.length;
      }
    }
  } catch {
    // cancelled or broken: keep what was read
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
  const dec = new TextDecoder();
  return chunks.map((c) => dec.decode(c, { stream: true })).join("") + dec.decode();
}

/**
 * Where crun/runc gets the pty master for `name` (a container id, or `<id>.<exec id>`): a unix
 * socket path, which holds 107 bytes at most. CRI pods and exec ids are 64 characters each, so a
 * name that would not fit becomes a digest of it (still unique per name).
 */
export function consoleSocketPath(stateDir: string, name: string): string {
  const plain = `${stateDir}/${name}.console.sock`;
  if (new TextEncoder().encode(plain).length <= 107) return plain;
  return `${stateDir}/c-${nameDigest(name)}.sock`;
}

/**
 * 24 hex digits of two 64-bit FNV-1a hashes of `name` (different offset bases). Not a security
 * digest: the names are the host's ids, and this only has to keep them apart in a path. Chosen over
 * node:crypto, whose import costs the agent's start-up the Node compatibility layer (measured: 18 ms
 * natively; many times that in an emulated guest). Pure.
 */
export function nameDigest(name: string): string {
  const bytes = new TextEncoder().encode(name);
  const fnv = (basis: bigint): bigint => {
    let h = basis;
    for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
    return h;
  };
  const hex = (h: bigint) => h.toString(16).padStart(16, "0");
  return (hex(fnv(0xcbf29ce484222325n)) + hex(fnv(0x84222325cbf29ce4n))).slice(0, 24);
}
