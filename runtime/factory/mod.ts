/**
 * VM factory, core side: choosing and loading the factory plugin, the clone set-up, `cocoon
 * factory init | status | destroy` behind the CLI, and the VM cache (server and client).
 *
 * @module
 */
export { factoryName, factoryOptions, factoryPluginConfig, openFactory, probeWith } from "./factory.ts";
export type { FactoryName } from "./factory.ts";
export { cloneSetup, RESEED_BYTES } from "./clone_setup.ts";
export { destroyFactory, type FactoryHost, factoryStatus } from "./init.ts";
export {
  type CachedVm,
  cacheRoot,
  type CacheStatus,
  serveVmCache,
  type VmCacheHost,
} from "./cache_server.ts";
export { cacheStatus, movedState, stopCache, takeCachedVm } from "./cache_client.ts";
export { vmShapeKey } from "./vm_shape.ts";
