/**
 * The containerd 2.0 Sandbox API front door: `containerd.services.sandbox.v1.Controller` over gRPC
 * on a unix socket (`cocoon sandboxer --listen /run/cocoon/sandboxer.sock`), with the Task API of
 * its sandboxes served in the same process at the address that Start returns. containerd's
 * `proxy_plugins` snippet is configs/containerd/sandboxer.toml.
 *
 * For containerd 1.7 (CRI `sandbox_mode = "shim"`), the daemon serves the shim-side
 * `containerd.runtime.sandbox.v1.Sandbox` ttRPC service ({@link registerShimSandboxService}) next to
 * the Task API; configs/containerd/cocoon-sandbox-1.7.toml.
 *
 * iSulad (and Kuasar) speak the same Controller service path with other messages and three more
 * calls (Prepare, Purge, UpdateResources): `startSandboxer({ flavour: "isulad" })`.
 *
 * @module
 */
export {
  goArch,
  SANDBOX_NOTREADY,
  SANDBOX_READY,
  SandboxController,
  type SandboxerOptions,
  vmExitStatus,
} from "./controller.ts";
export { parseProcUsage, procUsage, sandboxMetric } from "./metrics.ts";
export { type Sandboxer, startSandboxer, type StartSandboxerOptions } from "./server.ts";
export { POD_SANDBOX_CONFIG, podAnnotations } from "./pod_config.ts";
export {
  type PodGroups,
  registerShimSandboxService,
  sandboxMember,
  type ShimSandboxes,
  type ShimSandboxOptions,
} from "./shim_sandbox_service.ts";
export { startTaskApi, type TaskApi, type TaskApiOptions } from "./task_api.ts";
