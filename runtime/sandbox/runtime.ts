/**
 * `SandboxRuntime`: what every sandbox operation needs (configuration, logger, plugins, the agent
 * connector, the record store), built once per process by {@link openSandboxRuntime}. Plugins are
 * reached only through the registry (`loadPlugin`); tests inject instances (`plugins`), e.g. the
 * mock hypervisor and an in-memory agent.
 *
 * @module
 */
import type {
  AgentAddress,
  Hypervisor,
  MetadataStore,
  NetworkBackend,
  PluginKind,
} from "../../plugins/types.ts";
import { AgentClient } from "../agent_client/client.ts";
import { probeStreamBase } from "../agent_client/probe.ts";
import type { ResolvedConfig } from "../config/schema.ts";
import { AgentError, isRuntimeError, SandboxError } from "../errors.ts";
import { type Logger, rootLog } from "../log/logger.ts";
import { loadPlugin } from "../plugins/loader.ts";
import { createRegistry, type PluginRegistry } from "../plugins/registry.ts";
import type { AgentApi, AgentConnectOptions, AgentConnector } from "./agent_port.ts";
import type { OwnerIdentity } from "./owner.ts";
import { SandboxRepo } from "./persist.ts";
import type { SandboxStorage } from "./storage_port.ts";

/** Plugin instances to use instead of loading them (tests, embedders). */
export interface InjectedPlugins {
  readonly hypervisor?: Hypervisor;
  readonly store?: MetadataStore;
  readonly storage?: Readonly<Record<string, SandboxStorage>>;
  readonly network?: Readonly<Record<string, NetworkBackend>>;
}

export interface OpenSandboxRuntimeOptions {
  readonly registry?: PluginRegistry;
  readonly log?: Logger;
  readonly plugins?: InjectedPlugins;
  /** How to reach a VM's agent (default: {@link AgentClient.connect}). */
  readonly connectAgent?: AgentConnector;
  /** What this process is to the sandboxes it holds, written in their records (default: a program). */
  readonly owner?: OwnerIdentity;
}

export interface SandboxRuntime {
  readonly config: ResolvedConfig;
  readonly log: Logger;
  readonly repo: SandboxRepo;
  readonly hypervisorName: string;
  readonly hypervisor: Hypervisor;
  readonly connectAgent: AgentConnector;
  /** What this process is to the sandboxes it creates or attaches (their records' `owner`). */
  readonly owner: OwnerIdentity;
  /** A storage plugin by name ("9p", "virtio-fs", "virtio-blk"), loaded on first use. */
  storage(name: string): Promise<SandboxStorage>;
  /** A network plugin by name, loaded on first use. */
  network(name: string): Promise<NetworkBackend>;
}

/**
 * The default connector: ttRPC to the agent, waiting until it answers Health.Check. Each probe uses
 * a fresh connection that is closed when the probe times out: probes queued on one connection
 * while the guest has not opened its virtio-serial port reach the agent later as a burst, and on
 * slow boots (generic kernel under TCG) the channel then stalls after the burst. Each connection
 * numbers its streams above the previous ones' ({@link probeStreamBase}).
 */
export const defaultAgentConnector: AgentConnector = async (
  address: AgentAddress,
  opts: AgentConnectOptions,
): Promise<AgentApi> => {
  const deadline = Date.now() + opts.timeoutMs;
  let last: unknown;
  // Each process starts at a random probe slot: stale requests that an earlier process (one that
  // died mid-dial, or a template's builder) left queued in the port are answered with ids that
  // this process is very unlikely to use.
  let probe = crypto.getRandomValues(new Uint16Array(1))[0] ?? 0;
  while (Date.now() < deadline) {
    opts.signal?.throwIfAborted();
    try {
      return await AgentClient.connect(address, {
        timeoutMs: Math.min(PROBE_MS + 500, Math.max(1, deadline - Date.now())),
        probeTimeoutMs: PROBE_MS,
        firstStreamId: probeStreamBase(probe++),
        log: opts.log,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (e) {
      if (isRuntimeError(e) && e.code === "Cancelled") throw e;
      last = e;
    }
  }
  throw new AgentError("DeadlineExceeded", `Cannot reach the agent: no answer within ${opts.timeoutMs} ms`, {
    cause: last,
  });
};

/** Deadline of one Health.Check probe, ms. */
const PROBE_MS = 2000;

/** Table of a plugin in the config: `[hypervisor.<name>]` keys that the plugin understands. */
const QEMU_KEYS = [
  "path",
  "machine_type",
  "cpu_model",
  "accelerator",
  "default_vcpus",
  "default_maxvcpus",
  "default_memory",
  "memory_slots",
  "enable_debug",
  "seccomp",
  "insecure_disable_seccomp",
  "insecure_unconfined",
  "insecure_run_as_root",
  "console_log_max_bytes",
  "tcg_tb_size_mib",
  "free_page_reporting",
] as const;

/**
 * The hypervisor plugin's own config table. `[hypervisor.X]` also holds core keys (kernel, image,
 * shared_fs...) that the plugin does not know, so only the keys plugins share with Kata's table
 * are passed, and `shared_memory` when the shared filesystem is virtio-fs.
 */
export function hypervisorPluginConfig(cfg: ResolvedConfig): Record<string, unknown> {
  const raw = cfg.hypervisor.raw;
  const out: Record<string, unknown> = {};
  for (const k of QEMU_KEYS) if (raw[k] !== undefined) out[k] = raw[k];
  if (cfg.hypervisor.sharedFs === "virtio-fs") out["shared_memory"] = true;
  return out;
}

/** A storage plugin's table: virtio-fs takes the `virtio_fs_*` keys of `[hypervisor.X]`. */
function storagePluginConfig(cfg: ResolvedConfig, name: string): Record<string, unknown> {
  if (name !== "virtio-fs") return {};
  const h = cfg.hypervisor;
  return {
    daemon: h.virtioFsDaemon,
    cache: h.virtioFsCache,
    extra_args: [...h.virtioFsExtraArgs],
    ...(h.raw["insecure_unconfined"] === true ? { insecure_unconfined: true } : {}),
  };
}

/**
 * Loads the hypervisor and store plugins named by `cfg` (or takes the injected ones) and returns
 * the runtime. Storage and network plugins load lazily.
 *
 * @throws {PluginError} for an unknown plugin or missing permissions.
 */
export async function openSandboxRuntime(
  cfg: ResolvedConfig,
  opts: OpenSandboxRuntimeOptions = {},
): Promise<SandboxRuntime> {
  const log = (opts.log ?? rootLog()).child({ subsystem: "sandbox" });
  const registry = opts.registry ?? createRegistry(cfg.plugins.paths, cfg.plugins.integrity);
  const runDir = cfg.runtime.stateDir;
  const load = async <K extends PluginKind>(kind: K, name: string, config: Record<string, unknown>) =>
    (await loadPlugin(registry, kind, name, { log: log.child({ subsystem: kind }), config, runDir }))
      .instance;
  const hypervisor = opts.plugins?.hypervisor ??
    await load("hypervisor", cfg.hypervisor.name, hypervisorPluginConfig(cfg));
  const store = opts.plugins?.store ?? await load("store", cfg.runtime.store, {});
  const storages = new Map<string, Promise<SandboxStorage>>(
    Object.entries(opts.plugins?.storage ?? {}).map(([k, s]) => [k, Promise.resolve(s)]),
  );
  const networks = new Map<string, Promise<NetworkBackend>>(
    Object.entries(opts.plugins?.network ?? {}).map(([k, n]) => [k, Promise.resolve(n)]),
  );
  const cached = <T>(m: Map<string, Promise<T>>, name: string, make: () => Promise<T>): Promise<T> => {
    let p = m.get(name);
    if (p === undefined) {
      p = make();
      p.catch(() => m.delete(name));
      m.set(name, p);
    }
    return p;
  };
  return {
    config: cfg,
    log,
    repo: new SandboxRepo(store),
    hypervisorName: cfg.hypervisor.name,
    hypervisor,
    connectAgent: opts.connectAgent ?? defaultAgentConnector,
    owner: opts.owner ?? { kind: "program" },
    storage: (name) =>
      cached(storages, name, async () => {
        const s = await load("storage", name, storagePluginConfig(cfg, name));
        if (!isSandboxStorage(s)) {
          throw new SandboxError("Internal", `Cannot use storage plugin "${name}": it lacks share/unshare`);
        }
        return s;
      }),
    network: (name) => cached(networks, name, () => load("network", name, {})),
  };
}

function isSandboxStorage(s: unknown): s is SandboxStorage {
  return typeof s === "object" && s !== null && "share" in s && typeof s.share === "function" &&
    "unshare" in s && typeof s.unshare === "function" && "canHandle" in s &&
    typeof s.canHandle === "function";
}
