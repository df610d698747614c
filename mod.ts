/**
 * Cocoon as a library: the sandbox API (classic Kata virtcontainers calls in TypeScript style),
 * the plugin contract for plugin authors, the error family, branded ids and configuration loading.
 *
 * Every sandbox is one microVM with its guest agent; containers run inside it. Errors are
 * {@link RuntimeError}s with a gRPC-style `code` (`NotFound`, `FailedPrecondition`, ...).
 *
 * ```ts
 * import { createSandbox, fetchSandbox } from "./mod.ts";
 *
 * export async function hello(rootfs: string): Promise<string> {
 *   // Configuration: COCOON_CONFIG, /etc/cocoon/configuration.toml or the built-in one.
 *   const sb = await createSandbox({ vcpus: 1, memoryMiB: 512 });
 *   await sb.createContainer({ id: "hello", rootfs, args: ["echo", "hi"] });
 *   const init = await sb.startContainer("hello");
 *   const out = new Response(init.io.stdout).text();
 *   const status = await init.wait(); // exit code, or 128 + signal
 *   await sb.release(); // the VM keeps running; any process may fetch it now
 *
 *   const again = await fetchSandbox(sb.id);
 *   await again.delete(); // containers, VM, shares, state: all gone
 *   return `${status}: ${await out}`;
 * }
 * ```
 *
 * Processes, Web Streams, hot-plug and events (a handle is released by `await using`):
 *
 * ```ts
 * import { fetchSandbox, type SandboxEvent } from "./mod.ts";
 *
 * export async function tour(id: string, image: string): Promise<SandboxEvent[]> {
 *   await using sb = await fetchSandbox(id, { configPath: "/etc/cocoon/configuration.toml" });
 *   const events: SandboxEvent[] = [];
 *   const stop = new AbortController();
 *   const watching = (async () => {
 *     for await (const e of sb.monitor({ signal: stop.signal })) events.push(e); // exit, oom, error, vm-exit
 *   })();
 *
 *   const cat = await sb.enterContainer("web", { args: ["cat"], stdin: true });
 *   const { stdin, stdout } = sb.ioStream("web", cat.id);
 *   const echoed = new Response(stdout).text();
 *   const w = stdin.getWriter();
 *   await w.write(new TextEncoder().encode("hello\n"));
 *   await w.close(); // EOF
 *   await sb.waitProcess("web", cat.id); // 0
 *   await echoed; // "hello\n"
 *
 *   await sb.signalProcess("web", undefined, "TERM"); // the container's init
 *   await sb.addDevice({ kind: "block", id: "data", path: image }); // a raw image file
 *   await sb.addInterface({ name: "eth1", addresses: ["10.0.9.2/24"] }); // on a tap made for it
 *   await sb.updateRoutes([{ destination: "10.1.0.0/16", gateway: "10.0.9.1", device: "eth1", family: 4 }]);
 *   await sb.removeInterface("eth1");
 *   await sb.removeDevice("data");
 *   stop.abort();
 *   await watching;
 *   return events;
 * }
 * ```
 *
 * @module
 */
export { createSandbox, fetchSandbox, listSandboxes, Process, Sandbox } from "./runtime/api/library/mod.ts";
export type {
  BlockDeviceConfig,
  ConnectOptions,
  ContainerConfig,
  ContainerInfo,
  ContainerStats,
  ContainerStatus,
  DeviceConfig,
  DeviceInfo,
  InterfaceConfig,
  IpAddress,
  NetworkInterface,
  ProcessConfig,
  ProcessStatus,
  ProcessStreams,
  Route,
  SandboxConfig,
  SandboxEvent,
  SandboxInfo,
  SandboxStatus,
  WindowSize,
} from "./runtime/api/library/mod.ts";
export type {
  AgentAddress,
  AttachedDevice,
  Device,
  GuestStorage,
  HostCheck,
  Hypervisor,
  HypervisorCapabilities,
  MetadataStore,
  NetworkAttachment,
  NetworkBackend,
  NetworkEndpoint,
  OciMount,
  PluginContext,
  PluginKind,
  PluginManifest,
  PluginModule,
  PreparedShare,
  SandboxShareOptions,
  ShareOptions,
  StorageBackend,
  UnshareOptions,
  Vm,
  VmConfig,
  VmExit,
  VmState,
} from "./plugins/types.ts";
export {
  AgentError,
  ConfigError,
  type ErrorCode,
  GuestImageError,
  HypervisorError,
  isRuntimeError,
  PluginError,
  ProtocolError,
  RuntimeError,
  SandboxError,
} from "./runtime/errors.ts";
export {
  type ContainerId,
  containerId,
  type DeviceId,
  deviceId,
  type ExecId,
  execId,
  type MacAddress,
  macAddress,
  type SandboxId,
  sandboxId,
} from "./runtime/ids.ts";
export { loadConfig, type LoadConfigOptions } from "./runtime/config/load.ts";
export { applyAnnotations } from "./runtime/config/annotations.ts";
export type { ResolvedConfig } from "./runtime/config/schema.ts";
export { createLogger, type Logger } from "./runtime/log/logger.ts";
export { createRegistry, type PluginRegistry } from "./runtime/plugins/registry.ts";
export { loadPlugin } from "./runtime/plugins/loader.ts";
