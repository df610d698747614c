/**
 * The API of a front door that holds sandboxes in its own process (`cocoon daemon`, `cocoon
 * sandboxer`): served in-process on `<dir>/api.sock` (plus the `[runtime] api_listen` addresses),
 * and announced to a standalone `cocoon api` by `<state_dir>/owners/<pid>.json` (pid, process start
 * time, role, socket). `cocoon api` asks each live front door which sandboxes it holds
 * (`GET /v1/owner`) and forwards actions on those to its socket.
 *
 * The server never keeps the process alive (unref'd); closing removes the socket and the file.
 *
 * @module
 */
import { RuntimeError } from "../../errors.ts";
import { processStartTime, writeAtomic } from "../../holder/info.ts";
import type { Logger } from "../../log/logger.ts";
import type { SandboxRuntime } from "../../sandbox/runtime.ts";
import type { Sandbox as CoreSandbox } from "../../sandbox/sandbox.ts";
import { createApiApp } from "./app.ts";
import { localBackend } from "./local_backend.ts";
import { type ApiServer, type ListenAddress, parseListen, serveApi } from "./serve.ts";

export type FrontDoorRole = "daemon" | "sandboxer";

/** `<state_dir>/owners/<pid>.json`. */
export interface FrontDoorRecord {
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat: the record is stale when it no longer matches. */
  readonly startTime: string;
  readonly role: FrontDoorRole;
  /** The unix socket of its API. */
  readonly api: string;
}

export function ownersDir(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, "")}/owners`;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Validates a parsed owner file. Pure. @throws {RuntimeError} DataLoss */
export function parseFrontDoorRecord(x: unknown, where: string): FrontDoorRecord {
  if (
    !isRecord(x) || typeof x["pid"] !== "number" || !Number.isInteger(x["pid"]) || x["pid"] <= 0 ||
    typeof x["startTime"] !== "string" || (x["role"] !== "daemon" && x["role"] !== "sandboxer") ||
    typeof x["api"] !== "string" || !x["api"].startsWith("/")
  ) {
    throw new RuntimeError(
      "DataLoss",
      `Invalid owner file "${where}": expected pid, startTime, role (daemon or sandboxer) and an absolute api path`,
    );
  }
  return { pid: x["pid"], startTime: x["startTime"], role: x["role"], api: x["api"] };
}

/** The live front doors announced under `stateDir` (stale and malformed files are skipped). */
export async function liveFrontDoors(stateDir: string, log?: Logger): Promise<FrontDoorRecord[]> {
  const dir = ownersDir(stateDir);
  const out: FrontDoorRecord[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile || !/^\d+\.json$/.test(e.name)) continue;
      try {
        const rec = parseFrontDoorRecord(JSON.parse(await Deno.readTextFile(`${dir}/${e.name}`)), e.name);
        if (await processStartTime(rec.pid) === rec.startTime) out.push(rec);
      } catch (err) {
        log?.limited.debug("owner file skipped", { file: e.name, error: err });
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) log?.limited.warn("owners unreadable", { dir, error: e });
  }
  return out;
}

export interface FrontDoorApiOptions {
  readonly role: FrontDoorRole;
  /** The front door's directory: the API listens on `<dir>/api.sock`. */
  readonly dir: string;
  /** More addresses (`[runtime] api_listen`: unix:///path or tcp://127.0.0.1:PORT). */
  readonly listen?: readonly string[];
  readonly runtime: SandboxRuntime;
  readonly log: Logger;
  /** The core sandbox of a sandbox id when this process holds it. */
  readonly inProcess: (id: string) => CoreSandbox | undefined;
  /** Ids of the sandboxes this process holds. */
  readonly held: () => Iterable<string>;
  /** The refusal message for deleting a held sandbox (or one of its containers). */
  readonly refuseDelete: (id: string) => string;
  /** Pause and resume of a held sandbox, when the front door does it its own way. */
  readonly pause?: (id: string) => Promise<void>;
  readonly resume?: (id: string) => Promise<void>;
}

export interface FrontDoorApi {
  /** `<dir>/api.sock`. */
  readonly socket: string;
  readonly server: ApiServer;
  /** Stops serving (open requests get 2 s), removes the sockets and the owner file. */
  close(): Promise<void>;
}

/** Serves the management API of a front door's own sandboxes and announces it. */
export async function serveFrontDoorApi(opts: FrontDoorApiOptions): Promise<FrontDoorApi> {
  const socket = `${opts.dir.replace(/\/+$/, "")}/api.sock`;
  const listen: ListenAddress[] = [{ kind: "unix", path: socket }, ...(opts.listen ?? []).map(parseListen)];
  const log = opts.log;
  const backend = localBackend({
    runtime: opts.runtime,
    log,
    inProcess: opts.inProcess,
    refuseDelete: opts.refuseDelete,
    ...(opts.pause !== undefined ? { pause: opts.pause } : {}),
    ...(opts.resume !== undefined ? { resume: opts.resume } : {}),
  });
  const app = createApiApp(backend, {
    log,
    owner: { role: opts.role, held: () => [...opts.held()] },
  });
  const server = await serveApi(app.fetch, listen, { log, unref: true });
  const startTime = await processStartTime(Deno.pid);
  const stateDir = opts.runtime.config.runtime.stateDir;
  const file = `${ownersDir(stateDir)}/${Deno.pid}.json`;
  const record: FrontDoorRecord = { pid: Deno.pid, startTime: startTime ?? "", role: opts.role, api: socket };
  try {
    await Deno.mkdir(ownersDir(stateDir), { recursive: true, mode: 0o700 });
    await writeAtomic(file, JSON.stringify(record));
  } catch (e) {
    await server.close();
    throw new RuntimeError("Unavailable", `Cannot announce the API of cocoon ${opts.role} in "${file}"`, {
      cause: e,
    });
  }
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      await Promise.race([server.close(), new Promise((r) => setTimeout(r, 2000))]);
      await Deno.remove(socket).catch(() => {});
      await Deno.remove(file).catch(() => {});
    })();
  return { socket, server, close };
}
