/**
 * Save/load throughput of the metadata store plugins, through their `PluginModule.create`, on a
 * temp directory (default under /tmp, i.e. the disk the state would live on). Each save is a whole
 * durable write (fs: temp file + fsync + rename + directory fsync; sqlite: one WAL commit).
 *
 * The plugins are loaded by path, the way the loader loads a third-party plugin, because the style
 * suite forbids a module under plugins/ from statically importing another plugin.
 *
 * Run: node_modules/.bin/deno run --allow-all plugins/store/bench.ts [iterations]
 *
 * @module
 */
import type { MetadataStore, PluginModule } from "../types.ts";
import { createLogger, nullSink } from "../../runtime/log/logger.ts";
import { RuntimeError } from "../../runtime/errors.ts";

export interface StoreBenchResult {
  /** "fs", "sqlite" (synchronous=FULL, the default) or "sqlite-normal" (synchronous=NORMAL). */
  readonly store: string;
  readonly iterations: number;
  readonly saveOpsPerSec: number;
  readonly loadOpsPerSec: number;
  readonly saveP50Us: number;
  readonly loadP50Us: number;
  /** One `list("sandboxes/")` over all saved records. */
  readonly listMs: number;
}

export interface BenchStoresOptions {
  /** Saves (then loads) per store. @default 300 */
  readonly iterations?: number;
  /** Directory to create the temp stores in. @default "/tmp" */
  readonly dir?: string;
  readonly signal?: AbortSignal;
}

const VARIANTS: readonly { name: string; plugin: string; config: Record<string, unknown> }[] = [
  { name: "fs", plugin: "fs", config: {} },
  { name: "sqlite", plugin: "sqlite", config: {} },
  { name: "sqlite-normal", plugin: "sqlite", config: { synchronous: "normal" } },
];

/** A sandbox state record of a realistic size (~1 KiB). */
function record(i: number): Record<string, unknown> {
  return {
    id: `sb-${i}`,
    status: "running",
    createdAt: "2026-11-23T06:00:00.000Z",
    vm: { hypervisor: "qemu", pid: 4000 + i, vcpus: 2, memoryMiB: 2048, stateDir: `/run/cocoon/vm/sb-${i}` },
    agent: { kind: "unix", path: `/run/cocoon/vm/sb-${i}/agent.sock` },
    annotations: Object.fromEntries(
      Array.from({ length: 12 }, (_, j) => [`io.cocoon.k${j}`, `value-${j}-${i}`]),
    ),
    containers: Array.from({ length: 4 }, (_, j) => ({ id: `c${j}`, status: "running", pid: 100 + j })),
  };
}

function isStorePlugin(m: unknown): m is PluginModule<"store", MetadataStore> {
  if (typeof m !== "object" || m === null || !("manifest" in m) || !("create" in m)) return false;
  const manifest = m.manifest;
  return typeof m.create === "function" && typeof manifest === "object" && manifest !== null &&
    "kind" in manifest && manifest.kind === "store";
}

async function loadPlugin(name: string): Promise<PluginModule<"store", MetadataStore>> {
  const mod: unknown = await import(new URL(`./${name}/mod.ts`, import.meta.url).href);
  const def = typeof mod === "object" && mod !== null && "default" in mod ? mod.default : undefined;
  if (!isStorePlugin(def)) {
    throw new RuntimeError(
      "Internal",
      `Cannot benchmark store plugin "${name}": its default export is not a store plugin`,
    );
  }
  return def;
}

function p50(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round((s[Math.floor(s.length / 2)] ?? 0) * 1000);
}

/** Measures each store plugin's save and load throughput; see {@link StoreBenchResult}. */
export async function benchStores(opts: BenchStoresOptions = {}): Promise<StoreBenchResult[]> {
  const n = opts.iterations ?? 300;
  const log = createLogger({ sink: nullSink });
  const results: StoreBenchResult[] = [];
  for (const v of VARIANTS) {
    opts.signal?.throwIfAborted();
    const plugin = await loadPlugin(v.plugin);
    const dir = await Deno.makeTempDir({ dir: opts.dir ?? "/tmp", prefix: `cocoon-store-bench-${v.name}-` });
    let store: MetadataStore | undefined;
    try {
      store = await plugin.create({ log, config: { ...v.config, root: `${dir}/store` }, runDir: dir });
      const keys = Array.from({ length: n }, (_, i) => `sandboxes/sb${i % 50}/containers/c${i}`);
      const values = keys.map((_, i) => record(i));
      const saveTimes: number[] = [];
      const t0 = performance.now();
      for (const [i, key] of keys.entries()) {
        const s = performance.now();
        await store.save(key, values[i]);
        saveTimes.push(performance.now() - s);
      }
      const t1 = performance.now();
      const loadTimes: number[] = [];
      for (const key of keys) {
        const s = performance.now();
        if ((await store.load(key)) === undefined) {
          throw new RuntimeError("Internal", `Cannot benchmark store "${v.name}": "${key}" did not load`);
        }
        loadTimes.push(performance.now() - s);
      }
      const t2 = performance.now();
      const listed = await store.list("sandboxes/");
      const t3 = performance.now();
      if (listed.length !== n) {
        throw new RuntimeError(
          "Internal",
          `Cannot benchmark store "${v.name}": listed ${listed.length} of ${n}`,
        );
      }
      results.push({
        store: v.name,
        iterations: n,
        saveOpsPerSec: Math.round(n / ((t1 - t0) / 1000)),
        loadOpsPerSec: Math.round(n / ((t2 - t1) / 1000)),
        saveP50Us: p50(saveTimes),
        loadP50Us: p50(loadTimes),
        listMs: Math.round((t3 - t2) * 100) / 100,
      });
    } finally {
      if (store !== undefined && "close" in store && typeof store.close === "function") store.close();
      await Deno.remove(dir, { recursive: true });
    }
  }
  return results;
}

if (import.meta.main) {
  const n = Number(Deno.args[0] ?? "300");
  // deno-lint-ignore no-console -- a benchmark run as a script reports on stdout
  console.table(await benchStores({ iterations: Number.isFinite(n) && n > 0 ? n : 300 }));
}
