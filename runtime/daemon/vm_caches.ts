/**
 * The VM caches the daemon hosts (`[factory] vm_cache_number > 0`): `cocoon factory init` and
 * `cocoon factory serve` ask the daemon (control call `ServeVmCache`) to keep the cache of a
 * configuration filled on its `vm_cache_endpoint`; `POST /shutdown` there (`cocoon factory
 * destroy`) ends it. The cached VMs are the daemon's, like its sandboxes.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import { absolutePath, controlObject } from "./control_request.ts";
import type { Logger } from "../log/logger.ts";
import type { SandboxRuntime } from "../sandbox/mod.ts";

/** Validates a `ServeVmCache` request: `{"configPath"?: "/abs/path"}`. Pure. */
export function parseServeVmCache(payload: Uint8Array): { configPath?: string } {
  const p = controlObject(payload, "ServeVmCache")["configPath"];
  return p === undefined ? {} : { configPath: absolutePath(p, "configPath", "ServeVmCache") };
}

interface Served {
  readonly stop: AbortController;
  readonly done: Promise<void>;
}

/** The caches served, by endpoint. */
export class HostedVmCaches {
  readonly #log: Logger;
  readonly #onEnd: () => void;
  readonly #served = new Map<string, Served>();

  /** `onEnd` runs when a cache stops (the daemon may be idle then). */
  constructor(log: Logger, onEnd: () => void) {
    this.#log = log;
    this.#onEnd = onEnd;
  }

  get size(): number {
    return this.#served.size;
  }

  /** Serves the cache of `rt`'s configuration (once per endpoint); resolves when it answers. */
  async serve(rt: SandboxRuntime): Promise<{ endpoint: string }> {
    const cfg = rt.config;
    const endpoint = cfg.factory.vmCacheEndpoint;
    if (cfg.factory.vmCacheNumber <= 0) {
      throw new RuntimeError(
        "FailedPrecondition",
        `Cannot serve the VM cache of "${cfg.source.file}": [factory] vm_cache_number is 0`,
      );
    }
    let s = this.#served.get(endpoint);
    if (s === undefined) {
      // loaded when a cache is first asked for
      const [{ serveVmCache }, { sandboxShapedVmConfig }] = await Promise.all([
        import("../factory/cache_server.ts"),
        import("../sandbox/factory_init.ts"),
      ]);
      const stop = new AbortController();
      const done = serveVmCache({
        config: cfg,
        log: rt.log,
        hypervisor: rt.hypervisor,
        connectAgent: rt.connectAgent,
        vmConfig: (dir, id) => sandboxShapedVmConfig(rt, dir, id),
      }, { signal: stop.signal }).catch((e) => this.#log.error("the VM cache failed", { endpoint, error: e }))
        .finally(() => {
          this.#served.delete(endpoint);
          this.#log.info("VM cache ended", { endpoint });
          this.#onEnd();
        });
      s = { stop, done };
      this.#served.set(endpoint, s);
    }
    let ended = false;
    void s.done.then(() => (ended = true));
    for (const until = Date.now() + 10_000; Date.now() < until && !ended;) {
      const up = await Deno.connect({ transport: "unix", path: endpoint }).then((c) => {
        c.close();
        return true;
      }, () => false);
      if (up) return { endpoint };
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new RuntimeError("Unavailable", `Cannot serve the VM cache on "${endpoint}": see the daemon's log`);
  }

  /** Stops every cache (their unused VMs are stopped). */
  async closeAll(): Promise<void> {
    const all = [...this.#served.values()];
    for (const s of all) s.stop.abort();
    await Promise.all(all.map((s) => s.done));
  }
}
