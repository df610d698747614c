/**
 * VM templates over QMP migration with the `x-ignore-shared` capability: guest RAM lives in a file
 * that the template maps shared and each clone maps privately, so only device state travels. The
 * state goes through a unix socket the plugin listens on (save) or QEMU listens on (restore), and
 * the plugin copies it to or from the state file: `exec:` migration would need QEMU to spawn a
 * shell, which its seccomp filter (`-sandbox spawn=deny`) refuses.
 *
 * @module
 */
import { HypervisorError } from "../../../runtime/errors.ts";
import type { QmpClient } from "./qmp.ts";

/** Longest time a save or a restore may take, ms. */
const MIGRATION_TIMEOUT_MS = 120_000;

const IGNORE_SHARED = { capabilities: [{ capability: "x-ignore-shared", state: true }] };

export interface MigrationOptions {
  readonly vmId: string;
  readonly qmp: QmpClient;
  /** Unix socket path for the migration stream (removed afterwards). */
  readonly socketPath: string;
  readonly stateFile: string;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

/** Status of the current migration (`query-migrate`), "none" when there is none. */
async function migrationStatus(qmp: QmpClient): Promise<{ status: string; error?: string }> {
  const r = await qmp.execute("query-migrate");
  if (typeof r !== "object" || r === null) return { status: "none" };
  const status = "status" in r && typeof r.status === "string" ? r.status : "none";
  const error = "error-desc" in r && typeof r["error-desc"] === "string" ? r["error-desc"] : undefined;
  return error === undefined ? { status } : { status, error };
}

/** Polls `query-migrate` until it reports "completed"; throws on "failed" or "cancelled". */
async function waitMigration(o: MigrationOptions, what: string): Promise<void> {
  const deadline = Date.now() + (o.timeoutMs ?? MIGRATION_TIMEOUT_MS);
  let delay = 5;
  while (true) {
    o.signal?.throwIfAborted();
    const s = await migrationStatus(o.qmp);
    if (s.status === "completed") return;
    if (s.status === "failed" || s.status === "cancelled") {
      throw new HypervisorError(
        "Internal",
        `Cannot ${what} VM "${o.vmId}": migration ${s.status}${s.error ? `: ${s.error}` : ""}`,
      );
    }
    if (Date.now() > deadline) {
      throw new HypervisorError(
        "DeadlineExceeded",
        `Cannot ${what} VM "${o.vmId}": migration still "${s.status}" after ${
          o.timeoutMs ?? MIGRATION_TIMEOUT_MS
        } ms`,
      );
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 100);
  }
}

/**
 * Pauses the VM and writes its device state to `stateFile` (atomically: a temporary file renamed
 * at the end). Returns the state's size in bytes.
 */
export async function saveTemplateState(o: MigrationOptions): Promise<number> {
  await Deno.remove(o.socketPath).catch(() => {});
  const listener = Deno.listen({ transport: "unix", path: o.socketPath });
  const tmp = `${o.stateFile}.tmp`;
  try {
    await o.qmp.execute("stop");
    await o.qmp.execute("migrate-set-capabilities", IGNORE_SHARED);
    const accepted = listener.accept();
    await o.qmp.execute("migrate", { uri: `unix:${o.socketPath}` });
    const conn = await withDeadline(accepted, o, "save");
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
    await conn.readable.pipeTo(file.writable); // QEMU closes the stream when the state is written
    await waitMigration(o, "save");
    const size = (await Deno.stat(tmp)).size;
    await Deno.rename(tmp, o.stateFile);
    return size;
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e instanceof HypervisorError
      ? e
      : new HypervisorError("Internal", `Cannot save VM "${o.vmId}" as a template`, { cause: e });
  } finally {
    listener.close();
    await Deno.remove(o.socketPath).catch(() => {});
  }
}

/**
 * Restores a clone started with `-incoming defer` from `stateFile` and resumes it. Returns the
 * state's size in bytes.
 */
export async function restoreCloneState(o: MigrationOptions): Promise<number> {
  await Deno.remove(o.socketPath).catch(() => {});
  try {
    using file = await Deno.open(o.stateFile, { read: true });
    const size = (await file.stat()).size;
    await o.qmp.execute("migrate-set-capabilities", IGNORE_SHARED);
    await o.qmp.execute("migrate-incoming", { uri: `unix:${o.socketPath}` });
    const conn = await Deno.connect({ transport: "unix", path: o.socketPath });
    try {
      const buf = new Uint8Array(1 << 20);
      while (true) {
        const n = await file.read(buf);
        if (n === null) break;
        let off = 0;
        while (off < n) off += await conn.write(buf.subarray(off, n));
      }
      await conn.closeWrite();
      await waitMigration(o, "restore");
    } finally {
      try {
        conn.close();
      } catch {
        // QEMU closed it first
      }
    }
    await o.qmp.execute("cont");
    return size;
  } catch (e) {
    throw e instanceof HypervisorError
      ? e
      : new HypervisorError("Internal", `Cannot restore VM "${o.vmId}" from "${o.stateFile}"`, { cause: e });
  } finally {
    await Deno.remove(o.socketPath).catch(() => {});
  }
}

async function withDeadline<T>(p: Promise<T>, o: MigrationOptions, what: string): Promise<T> {
  const ms = o.timeoutMs ?? MIGRATION_TIMEOUT_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new HypervisorError(
            "DeadlineExceeded",
            `Cannot ${what} VM "${o.vmId}": QEMU did not connect within ${ms} ms`,
          ),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
