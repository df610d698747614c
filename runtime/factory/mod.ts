/**
 * VM factory, core side: choosing and loading the factory plugin, and the clone set-up.
 *
 * @module
 */
export { factoryName, factoryOptions, factoryPluginConfig, openFactory, probeWith } from "./factory.ts";
export type { FactoryName } from "./factory.ts";
export { cloneSetup, RESEED_BYTES } from "./clone_setup.ts";
