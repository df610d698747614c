/**
 * The API of the daemon, which holds sandboxes in its own process: served in-process on
 * `<dir>/api.sock` (plus the `[runtime] api_listen` addresses). The records of the sandboxes it
 * holds name that socket as their owner's (runtime/sandbox/owner.ts): a standalone `cocoon api`
 * passes requests on them through to it (relay_http.ts).
 *
 * The server never keeps the process alive (unref'd); closing removes the socket and the file.
 *
 * @module
 */
import type { Logger } from "../../log/logger.ts";
import type { SandboxRuntime } from "../../sandbox/runtime.ts";
import type { Sandbox as CoreSandbox } from "../../sandbox/sandbox.ts";
import { createApiApp } from "./app.ts";
import { localBackend } from "./local_backend.ts";
import { type ApiServer, type ListenAddress, parseListen, serveApi } from "./serve.ts";
import { readOrCreateToken } from "./token.ts";

export interface FrontDoorApiOptions {
  /** The front door's directory: the API listens on `<dir>/api.sock`. */
  readonly dir: string;
  /** More addresses (`[runtime] api_listen`: unix:///path or tcp://127.0.0.1:PORT). */
  readonly listen?: readonly string[];
  readonly runtime: SandboxRuntime;
  /** More stores whose sandboxes this front door serves (LocalBackendOptions.stores). */
  readonly stores?: () => readonly SandboxRuntime[];
  readonly log: Logger;
  /** The core sandbox of a sandbox id when this process holds it. */
  readonly inProcess: (id: string) => CoreSandbox | undefined;
  /**
   * The refusal message for deleting a held sandbox (or one of its containers); undefined when
   * this process deletes it itself (`deleteInProcess`).
   */
  readonly refuseDelete: (id: string) => string | undefined;
  readonly deleteInProcess?: (id: string, force: boolean) => Promise<void>;
  /** Pause and resume of a held sandbox, when the front door does it its own way. */
  readonly pause?: (id: string) => Promise<void>;
  readonly resume?: (id: string) => Promise<void>;
}

export interface FrontDoorApi {
  /** `<dir>/api.sock`. */
  readonly socket: string;
  readonly server: ApiServer;
  /** Stops serving (open requests get 2 s) and removes the socket. */
  close(): Promise<void>;
}

/** Serves the management API of a front door's own sandboxes. */
export async function serveFrontDoorApi(opts: FrontDoorApiOptions): Promise<FrontDoorApi> {
  const socket = `${opts.dir.replace(/\/+$/, "")}/api.sock`;
  const listen: ListenAddress[] = [{ kind: "unix", path: socket }, ...(opts.listen ?? []).map(parseListen)];
  const log = opts.log;
  const backend = localBackend({
    runtime: opts.runtime,
    log,
    inProcess: opts.inProcess,
    refuseDelete: opts.refuseDelete,
    ...(opts.stores !== undefined ? { stores: opts.stores } : {}),
    ...(opts.deleteInProcess !== undefined ? { deleteInProcess: opts.deleteInProcess } : {}),
    ...(opts.pause !== undefined ? { pause: opts.pause } : {}),
    ...(opts.resume !== undefined ? { resume: opts.resume } : {}),
  });
  const app = createApiApp(backend, { log });
  // TCP addresses of `[runtime] api_listen` need the token (and loopback unless api_listen_public)
  const rc = opts.runtime.config.runtime;
  const token = listen.some((a) => a.kind === "tcp") ? await readOrCreateToken(rc.apiTokenFile) : undefined;
  const server = await serveApi(app.fetch, listen, {
    log,
    unref: true,
    public: rc.apiListenPublic,
    ...(token !== undefined ? { token } : {}),
  });
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      await Promise.race([server.close(), new Promise((r) => setTimeout(r, 2000))]);
      await Deno.remove(socket).catch(() => {});
    })();
  return { socket, server, close };
}
