/**
 * The `new` VM factory: every VM boots from scratch (the path without templates).
 *
 * @module
 */
import type { FactoryBackend, FactoryOptions, FactoryStatus, FactoryVm, VmConfig } from "../../types.ts";

export function createNewFactory(): FactoryBackend {
  return {
    name: "new",
    async getVm(config: VmConfig, opts: FactoryOptions & { hostname: string }): Promise<FactoryVm> {
      const t0 = performance.now();
      const sig = opts.signal ? { signal: opts.signal } : {};
      const vm = await opts.hypervisor.createVm(config, sig);
      try {
        await vm.start(sig);
      } catch (e) {
        await vm.stop({ force: true }).catch(() => {});
        throw e;
      }
      return { vm, origin: "boot", startMs: performance.now() - t0 };
    },
    init(): Promise<FactoryStatus> {
      return Promise.resolve({ kind: "new", items: [] });
    },
    status(): Promise<FactoryStatus> {
      return Promise.resolve({ kind: "new", items: [] });
    },
    destroy(): Promise<void> {
      return Promise.resolve();
    },
  };
}
