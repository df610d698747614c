/**
 * The VM cache (`[factory] vm_cache_number > 0`): a detached process (`cocoon factory serve`) keeps
 * that many VMs of the configured sandbox shape booted (cloned from the template when templates are
 * on, else cold), each in a directory laid out like a sandbox directory under `<state_dir>/cache/`,
 * and hands one out per request on `vm_cache_endpoint` (HTTP over a unix socket), refilling in the
 * background. The taker moves the directory into place as its sandbox directory and attaches.
 *
 * @module
 */
import { listenPrivate } from "../sys/private_socket.ts";
import { unmountAndRemove } from "../sys/safe_remove.ts";
import type { FactoryVm, Hypervisor, VmConfig, VmState } from "../../plugins/types.ts";
import type { ResolvedConfig } from "../config/schema.ts";
import type { Logger } from "../log/logger.ts";
import { type AgentDialer, factoryName, factoryOptions, openFactory } from "./factory.ts";
import { vmShapeKey } from "./vm_shape.ts";

/** One cached VM. */
export interface CachedVm {
  readonly dir: string;
  readonly key: string;
  readonly state: VmState;
}

/** `GET /status` of the cache. */
export interface CacheStatus {
  readonly wanted: number;
  readonly ready: number;
  readonly filling: number;
  readonly origin: string;
  readonly failures: number;
}

/** Where cached VMs live. Pure. */
export function cacheRoot(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, "")}/cache`;
}

/** What the cache needs of a runtime, and the VM config of one cached VM in `dir` (sandbox-shaped). */
export interface VmCacheHost {
  readonly config: ResolvedConfig;
  readonly log: Logger;
  readonly hypervisor: Hypervisor;
  readonly connectAgent: AgentDialer;
  readonly vmConfig: (dir: string, vmId: string) => Promise<{ config: VmConfig }>;
}

/** Serves the cache until `signal` aborts or `POST /shutdown`; cached VMs left then are stopped. */
export async function serveVmCache(rt: VmCacheHost, opts: { signal?: AbortSignal } = {}): Promise<void> {
  const cfg = rt.config;
  const log = rt.log.child({ subsystem: "vm-cache" });
  const wanted = cfg.factory.vmCacheNumber;
  const root = cacheRoot(cfg.runtime.stateDir);
  await Deno.mkdir(root, { recursive: true, mode: 0o711 });
  const name = factoryName(cfg);
  const factory = await openFactory(cfg, name, { log });
  const pool: CachedVm[] = [];
  let filling = 0;
  let failures = 0;
  // `stop` ends the filling; `closing` ends the HTTP server once a shutdown has been answered.
  const stop = new AbortController();
  const closing = new AbortController();
  opts.signal?.addEventListener("abort", () => {
    stop.abort();
    closing.abort();
  }, { once: true });

  async function makeOne(): Promise<void> {
    const vmid = `cache-${crypto.randomUUID().slice(0, 8)}`;
    const dir = `${root}/${vmid}`;
    const t0 = performance.now();
    let got: FactoryVm | undefined;
    let key: string;
    try {
      const { config } = await rt.vmConfig(dir, vmid);
      const fo = factoryOptions(rt, log, { signal: stop.signal });
      got = await factory.getVm(config, { ...fo, hostname: vmid });
      if (got.origin === "boot") {
        const agent = await fo.probeAgent(got.vm.agentAddress(), {
          timeoutMs: fo.agentTimeoutMs,
          signal: stop.signal,
        });
        agent.close();
      }
      stop.signal.throwIfAborted();
      key = await vmShapeKey(config);
    } catch (e) {
      // nothing half-made stays: the VM and its directory go
      await got?.vm.stop({ force: true }).catch(() => {});
      await unmountAndRemove(dir).catch(() => {});
      throw e;
    }
    const state = got.vm.saveState();
    if ("detach" in got.vm && typeof got.vm.detach === "function") got.vm.detach();
    pool.push({ dir, key, state });
    log.info("vm cached", {
      vm: vmid,
      origin: got.origin,
      ms: Math.round(performance.now() - t0),
      ready: pool.length,
    });
  }

  let refilling: Promise<void> | undefined;
  function refill(): Promise<void> {
    refilling ??= fill().finally(() => (refilling = undefined));
    return refilling;
  }
  async function fill(): Promise<void> {
    while (!stop.signal.aborted && pool.length < wanted && failures < 5) {
      filling = 1;
      try {
        await makeOne();
        failures = 0;
      } catch (e) {
        if (stop.signal.aborted) break;
        failures++;
        log.warn("cannot cache a VM", { error: e, failures });
        await new Promise((r) => setTimeout(r, 1000 * failures));
      } finally {
        filling = 0;
      }
    }
  }

  // Stops filling, waits for a VM being made (it is stopped or pooled), then stops the unused ones.
  let drained: Promise<void> | undefined;
  function drain(): Promise<void> {
    drained ??= (async () => {
      stop.abort();
      await refilling?.catch(() => {});
      await Promise.all(
        pool.splice(0).map(async (v) => {
          try {
            const vm = await rt.hypervisor.attachVm(v.state);
            await vm.stop({ force: true });
          } catch (e) {
            log.warn("cannot stop a cached VM", { error: e, dir: v.dir });
          }
          await unmountAndRemove(v.dir).catch(() => {});
        }),
      );
    })();
    return drained;
  }

  const status = (): CacheStatus => ({ wanted, ready: pool.length, filling, origin: name, failures });
  // 0600: only root takes VMs from the cache or shuts it down
  const server = await listenPrivate(cfg.factory.vmCacheEndpoint, (path) =>
    Deno.serve({
      path,
      signal: closing.signal,
      onListen: () => log.info("vm cache listening", { endpoint: cfg.factory.vmCacheEndpoint, wanted }),
    }, async (req) => {
      const url = new URL(req.url);
      if (req.method === "GET" && url.pathname === "/status") return Response.json(status());
      if (req.method === "POST" && url.pathname === "/take") {
        const body: unknown = await req.json().catch(() => ({}));
        const key = typeof body === "object" && body !== null && "key" in body ? body.key : undefined;
        const i = pool.findIndex((v) => key === "*" || v.key === key);
        if (i < 0) {
          return Response.json({ error: "no cached VM of this shape", ...status() }, { status: 404 });
        }
        const [vm] = pool.splice(i, 1);
        void refill();
        return Response.json(vm);
      }
      if (req.method === "POST" && url.pathname === "/shutdown") {
        // Answered once the unused VMs are gone: `factory destroy` then finds nothing left.
        await drain();
        setTimeout(() => closing.abort(), 10);
        return Response.json({ ok: true });
      }
      return new Response("not found", { status: 404 });
    }));
  void refill();
  await server.finished;
  await drain(); // cached VMs that nobody took go with the cache
  await Deno.remove(cfg.factory.vmCacheEndpoint).catch(() => {});
  log.info("vm cache stopped");
}
