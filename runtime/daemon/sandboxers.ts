/**
 * The Sandbox API front doors the daemon hosts. `cocoon sandboxer` asks the daemon (control call
 * `ServeSandboxer`) to serve containerd 2.0's or iSulad's Controller on a socket, with the Task API
 * of those sandboxes beside it; `StopSandboxer` stops serving, keeping the sandboxes running (a
 * later `ServeSandboxer` adopts them) or deleting them. The sandboxes are the daemon's: their
 * records name it, and its management API serves them.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import { absolutePath, controlObject } from "./control_request.ts";
import type { Logger } from "../log/logger.ts";
import type { Sandbox, SandboxRuntime } from "../sandbox/mod.ts";
import type { Sandboxer } from "../sandboxer/server.ts";

/** `ServeSandboxer`'s request. */
export interface ServeSandboxerRequest {
  /** Unix socket of the Controller. */
  readonly listen: string;
  /** Directory of the Task API socket (`task.sock`). */
  readonly dir: string;
  readonly flavour: "containerd" | "isulad";
  /** containerd's ttRPC address and namespace for task events (address "": none published). */
  readonly events: { readonly ttrpcAddress: string; readonly namespace: string };
  /** The configuration file of these sandboxes (absent: the daemon's). */
  readonly configPath?: string;
}

/** `StopSandboxer`'s request. */
export interface StopSandboxerRequest {
  readonly listen: string;
  readonly deleteSandboxes: boolean;
}

const MAX_SOCKET_PATH = 107;

function socketPath(x: unknown, field: string, what: string): string {
  const p = absolutePath(x, field, what);
  if (new TextEncoder().encode(p).length > MAX_SOCKET_PATH) {
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid ${what} request: "${field}" is longer than ${MAX_SOCKET_PATH} bytes, the unix socket limit`,
    );
  }
  return p;
}

/** Validates a `ServeSandboxer` request. Pure. @throws {RuntimeError} InvalidArgument */
export function parseServeSandboxer(payload: Uint8Array): ServeSandboxerRequest {
  const what = "ServeSandboxer";
  const x = controlObject(payload, what);
  const flavour = x["flavour"] ?? "containerd";
  if (flavour !== "containerd" && flavour !== "isulad") {
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid ${what} request: "flavour" must be "containerd" or "isulad" (got ${JSON.stringify(flavour)})`,
    );
  }
  const ev = x["events"] ?? {};
  const ttrpcAddress = typeof ev === "object" && ev !== null && "ttrpcAddress" in ev ? ev.ttrpcAddress : "";
  const namespace = typeof ev === "object" && ev !== null && "namespace" in ev ? ev.namespace : "k8s.io";
  if (typeof ttrpcAddress !== "string" || typeof namespace !== "string") {
    throw new RuntimeError("InvalidArgument", `Invalid ${what} request: "events" must hold strings`);
  }
  const configPath = x["configPath"];
  return {
    listen: socketPath(x["listen"], "listen", what),
    dir: absolutePath(x["dir"], "dir", what),
    flavour,
    events: { ttrpcAddress, namespace },
    ...(configPath !== undefined ? { configPath: absolutePath(configPath, "configPath", what) } : {}),
  };
}

/** Validates a `StopSandboxer` request. Pure. @throws {RuntimeError} InvalidArgument */
export function parseStopSandboxer(payload: Uint8Array): StopSandboxerRequest {
  const x = controlObject(payload, "StopSandboxer");
  return {
    listen: socketPath(x["listen"], "listen", "StopSandboxer"),
    deleteSandboxes: x["deleteSandboxes"] === true,
  };
}

interface Served {
  readonly req: ServeSandboxerRequest;
  readonly s: Promise<Sandboxer>;
  started: Sandboxer | undefined;
}

/** The Controllers the daemon serves, by socket. */
export class HostedSandboxers {
  readonly #runtimeOf: (configPath: string | undefined) => Promise<SandboxRuntime>;
  readonly #log: Logger;
  readonly #served = new Map<string, Served>();

  readonly #claim: (coreId: string) => Sandbox | undefined;

  constructor(
    runtimeOf: (configPath: string | undefined) => Promise<SandboxRuntime>,
    log: Logger,
    claim: (coreId: string) => Sandbox | undefined = () => undefined,
  ) {
    this.#runtimeOf = runtimeOf;
    this.#log = log;
    this.#claim = claim;
  }

  /** Controllers served now. */
  get size(): number {
    return this.#served.size;
  }

  /** Serves `req`; asking again for the same socket and flavour answers the one already served. */
  async serve(req: ServeSandboxerRequest): Promise<{ taskAddress: string }> {
    const known = this.#served.get(req.listen);
    if (known !== undefined) {
      if (known.req.flavour !== req.flavour || known.req.dir !== req.dir) {
        throw new RuntimeError(
          "AlreadyExists",
          `Cannot serve a sandboxer on "${req.listen}": the daemon serves one there already (flavour ${known.req.flavour}, dir ${known.req.dir}); stop it first`,
        );
      }
      return { taskAddress: (await known.s).taskAddress };
    }
    const s = (async () => {
      // gRPC is loaded when a Controller is first asked for: a daemon of containerd pods does without
      const { startSandboxer } = await import("../sandboxer/server.ts");
      await Deno.mkdir(req.dir, { recursive: true, mode: 0o700 });
      const slash = req.listen.lastIndexOf("/");
      if (slash > 0) await Deno.mkdir(req.listen.slice(0, slash), { recursive: true, mode: 0o711 });
      return await startSandboxer({
        listen: req.listen,
        taskDir: req.dir,
        runtime: await this.#runtimeOf(req.configPath),
        log: this.#log.child({ listen: req.listen, flavour: req.flavour }),
        flavour: req.flavour,
        // the daemon's own API serves these sandboxes
        api: false,
        claim: this.#claim,
        ...(req.events.ttrpcAddress !== "" ? { events: req.events } : {}),
      });
    })();
    const entry: Served = { req, s, started: undefined };
    this.#served.set(req.listen, entry);
    try {
      const started = entry.started = await s;
      this.#log.info("sandboxer served", {
        listen: req.listen,
        flavour: req.flavour,
        task: started.taskAddress,
      });
      return { taskAddress: started.taskAddress };
    } catch (e) {
      this.#served.delete(req.listen);
      throw e;
    }
  }

  /** Stops serving on `listen`; false when nothing was served there. */
  async stop(req: StopSandboxerRequest): Promise<boolean> {
    const known = this.#served.get(req.listen);
    if (known === undefined) return false;
    this.#served.delete(req.listen);
    const s = await known.s.catch(() => undefined);
    await s?.close({ deleteSandboxes: req.deleteSandboxes });
    this.#log.info("sandboxer stopped", { listen: req.listen, deleted: req.deleteSandboxes });
    return true;
  }

  /** The running sandbox of a core sandbox id, when one of the Controllers holds it. */
  byCoreId(id: string): Sandbox | undefined {
    for (const { started } of this.#served.values()) {
      const sb = started?.controller.byCoreId(id);
      if (sb !== undefined) return sb;
    }
    return undefined;
  }

  /** Stops every Controller (the daemon exits). */
  async closeAll(opts: { deleteSandboxes: boolean }): Promise<void> {
    for (const listen of [...this.#served.keys()]) {
      await this.stop({ listen, deleteSandboxes: opts.deleteSandboxes });
    }
  }
}
