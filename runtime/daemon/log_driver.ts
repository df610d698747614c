/**
 * `binary://` log drivers (containerd's convention): the logger program runs with the container's
 * stdout on fd 3, stderr on fd 4, and fd 5 to close (or write to) once it is ready; arguments come
 * from the URI's query (`k v` pairs), environment CONTAINER_ID and CONTAINER_NAMESPACE. Deno cannot
 * hand extra fds to a child, so the three are named FIFOs that a `sh` wrapper opens as fds 3-5
 * before it execs the logger; the daemon writes the other ends like any stdout/stderr FIFO.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";

/** A started logger: the write ends of its stdout/stderr FIFOs (close them for its EOF). */
export interface LogDriver {
  readonly stdout: Deno.FsFile;
  readonly stderr: Deno.FsFile;
  /** Lets the logger finish (≤ 1 s after its EOF), kills it if it still runs, removes its FIFOs. */
  close(): Promise<void>;
}

/** The logger's argv from a `binary://` URI. Pure. */
export function loggerArgv(uri: string): { path: string; args: string[] } {
  const u = new URL(uri);
  const path = decodeURIComponent(u.pathname);
  if (path === "" || path === "/") {
    throw new RuntimeError("InvalidArgument", `Invalid log URI "${uri.slice(0, 100)}": it names no program`);
  }
  const args: string[] = [];
  for (const [k, v] of u.searchParams) args.push(k, v);
  return { path, args };
}

const WRAPPER = 'exec 3<"$1" 4<"$2" 5>"$3"; shift 3; exec "$@"';

/** Starts the logger and waits (≤ 10 s) until it is ready. */
export async function startLogDriver(
  uri: string,
  o: { dir: string; containerId: string; namespace: string; log: Logger },
): Promise<LogDriver> {
  const { path, args } = loggerArgv(uri);
  await Deno.mkdir(o.dir, { recursive: true, mode: 0o700 });
  const fifos = ["stdout", "stderr", "ready"].map((n) => `${o.dir}/${n}`);
  const mk = await new Deno.Command("mkfifo", { args: ["-m", "0600", ...fifos], stderr: "piped" }).output();
  if (!mk.success) {
    throw new RuntimeError(
      "Internal",
      `Cannot start log driver "${path}": mkfifo failed: ${new TextDecoder().decode(mk.stderr)}`,
    );
  }
  const child = new Deno.Command("sh", {
    args: ["-c", WRAPPER, "sh", ...fifos, path, ...args],
    env: { CONTAINER_ID: o.containerId, CONTAINER_NAMESPACE: o.namespace },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const close = async () => {
    await Promise.race([child.status, new Promise((r) => setTimeout(r, 1000))]).catch(() => {});
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status.catch(() => {});
    await Deno.remove(o.dir, { recursive: true }).catch(() => {});
  };
  // Our ends: the writers of stdout/stderr (the wrapper's `3<` and `4<` complete with them) and the
  // reader of the readiness FIFO; then wait for EOF or a byte on it. A logger that dies first ends
  // the wait too, as an error.
  const writers = Promise.all([
    Deno.open(fifos[0] ?? "", { write: true }),
    Deno.open(fifos[1] ?? "", { write: true }),
  ]);
  const ready = (async () => {
    const f = await Deno.open(fifos[2] ?? "", { read: true });
    try {
      await f.read(new Uint8Array(1));
    } finally {
      f.close();
    }
  })();
  const died = child.status.then((s) => {
    throw new RuntimeError("Unavailable", `Cannot start log driver "${path}": it exited with code ${s.code}`);
  });
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(
      () =>
        reject(
          new RuntimeError("DeadlineExceeded", `Cannot start log driver "${path}": not ready after 10 s`),
        ),
      10_000,
    )
  );
  let files: [Deno.FsFile, Deno.FsFile];
  try {
    await Promise.race([ready, died, timeout]);
    files = await writers;
  } catch (e) {
    // Unblock our pending opens before giving up.
    for (const p of fifos) {
      await Deno.open(p, { read: true, write: true }).then((f) => f.close(), () => {});
    }
    await close();
    await writers.then((fs) => fs.forEach((f) => f.close()), () => {});
    throw e;
  } finally {
    died.catch(() => {});
    timeout.catch(() => {});
  }
  o.log.debug("log driver ready", { path, pid: child.pid });
  return { stdout: files[0], stderr: files[1], close };
}
