/**
 * The effective configuration as a Kata-style TOML tree (snake_case keys, every default filled in),
 * for `cocoon env`.
 *
 * @module
 */
import type { HypervisorConfig, ResolvedConfig } from "./schema.ts";

/** The snake_case table of the resolved hypervisor settings (core keys). */
export function hypervisorTable(h: HypervisorConfig): Record<string, unknown> {
  return {
    path: h.path,
    valid_hypervisor_paths: h.validHypervisorPaths,
    kernel: h.kernel,
    valid_kernel_paths: h.validKernelPaths,
    initrd: h.initrd,
    valid_initrd_paths: h.validInitrdPaths,
    image: h.image,
    valid_image_paths: h.validImagePaths,
    kernel_params: h.kernelParams,
    machine_type: h.machineType,
    accelerator: h.accelerator,
    cpu_model: h.cpuModel,
    default_vcpus: h.defaultVcpus,
    default_maxvcpus: h.defaultMaxVcpus,
    default_memory: h.defaultMemory,
    default_maxmemory: h.defaultMaxMemory,
    memory_slots: h.memorySlots,
    shared_fs: h.sharedFs,
    virtio_fs_daemon: h.virtioFsDaemon,
    valid_virtio_fs_daemon_paths: h.validVirtioFsDaemonPaths,
    virtio_fs_cache: h.virtioFsCache,
    virtio_fs_extra_args: h.virtioFsExtraArgs,
    block_device_driver: h.blockDeviceDriver,
    disable_image_nvdimm: h.disableImageNvdimm,
    enable_annotations: h.enableAnnotations,
    enable_debug: h.enableDebug,
    entropy_source: h.entropySource,
  };
}

export function effectiveTree(c: ResolvedConfig): Record<string, unknown> {
  const h = c.hypervisor;
  return {
    hypervisor: {
      [h.name]: { ...h.raw, ...hypervisorTable(h) },
    },
    agent: {
      enable_debug: c.agent.enableDebug,
      debug_console_enabled: c.agent.debugConsoleEnabled,
      kernel_modules: c.agent.kernelModules,
      dial_timeout: c.agent.dialTimeoutSeconds,
      channel: c.agent.channel,
    },
    runtime: {
      enable_debug: c.runtime.enableDebug,
      hypervisor: h.name,
      internetworking_model: c.runtime.internetworkingModel,
      disable_new_netns: c.runtime.disableNewNetns,
      sandbox_cgroup_only: c.runtime.sandboxCgroupOnly,
      vmm_memory_overhead_mib: c.runtime.vmmMemoryOverheadMiB,
      create_container_timeout: c.runtime.createContainerTimeoutSeconds,
      store: c.runtime.store,
      state_dir: c.runtime.stateDir,
      experimental: c.runtime.experimental,
      enable_annotations: c.runtime.enableAnnotations,
    },
    factory: {
      enable_template: c.factory.enableTemplate,
      template_path: c.factory.templatePath,
      vm_cache_number: c.factory.vmCacheNumber,
      vm_cache_endpoint: c.factory.vmCacheEndpoint,
    },
    plugins: { paths: c.plugins.paths },
  };
}
