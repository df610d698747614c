/**
 * Runs host tools for the builder (apt-get, dpkg-deb, depmod, mkfs.erofs) and turns failures into
 * GuestImageError with the tail of stderr.
 *
 * @module
 */
import { GuestImageError } from "../errors.ts";

export interface ExecOptions {
  cwd?: string;
  signal?: AbortSignal;
  env?: Record<string, string>;
  /** Write stdout to this file instead of returning it. */
  stdoutFile?: string;
}

/** Runs `cmd args...`; returns stdout (empty when redirected to a file); throws on non-zero exit. */
export async function exec(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<string> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cmd, {
      args: [...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      ...(opts.env !== undefined ? { env: opts.env } : {}),
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    }).spawn();
  } catch (e) {
    throw new GuestImageError("FailedPrecondition", `Cannot run "${cmd}": ${errText(e)}`, { cause: e });
  }
  let stdoutP: Promise<Uint8Array>;
  if (opts.stdoutFile !== undefined) {
    const path = opts.stdoutFile;
    stdoutP = (async () => {
      const f = await Deno.open(path, { write: true, create: true, truncate: true });
      await child.stdout.pipeTo(f.writable);
      return new Uint8Array();
    })();
  } else {
    stdoutP = new Response(child.stdout).bytes();
  }
  const [status, out, err] = await Promise.all([child.status, stdoutP, new Response(child.stderr).text()]);
  opts.signal?.throwIfAborted();
  if (!status.success) {
    const tail = err.trim().split("\n").slice(-5).join(" | ");
    throw new GuestImageError(
      "Internal",
      `Cannot run "${cmd} ${args.join(" ")}": exit code ${status.code}: ${tail}`,
    );
  }
  return new TextDecoder().decode(out);
}

export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
