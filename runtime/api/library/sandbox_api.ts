/**
 * The library API's entry points ({@link createSandbox}, {@link fetchSandbox},
 * {@link listSandboxes}) and the {@link Sandbox} handle: the classic Kata virtcontainers calls on
 * top of the sandbox core (`runtime/sandbox`).
 *
 * @module
 */
import { SandboxError } from "../../errors.ts";
import type { SandboxId } from "../../ids.ts";
import { Sandbox as CoreSandbox } from "../../sandbox/sandbox.ts";
import type { SandboxRuntime } from "../../sandbox/runtime.ts";
import { containerInfo, containerSpec, execProcessSpec, randomId } from "./container_api.ts";
import { Process, Relay } from "./relay_api.ts";
import { type LibraryHooks, openLibraryRuntime } from "./runtime_open.ts";
import { borrowFromDaemon, handToDaemon } from "./daemon_keeper.ts";
import type {
  ConnectOptions,
  ContainerConfig,
  ContainerInfo,
  ContainerStats,
  DeviceConfig,
  DeviceInfo,
  InterfaceConfig,
  NetworkInterface,
  ProcessConfig,
  ProcessStreams,
  Route,
  SandboxConfig,
  SandboxEvent,
  SandboxInfo,
  WindowSize,
} from "./types.ts";

/**
 * Creates a sandbox and starts it: the VM boots and its agent is ready when the promise resolves.
 * A failure leaves nothing behind (no VM, directory or record).
 *
 * @throws {RuntimeError} `AlreadyExists` for a taken id, `InvalidArgument` for a bad override or
 * annotation, or the error of the step that failed.
 */
export function createSandbox(config: SandboxConfig = {}): Promise<Sandbox> {
  return createSandboxWith(config, {});
}

/** {@link createSandbox} with injected plugins or agent connector (tests, embedders). */
export async function createSandboxWith(config: SandboxConfig, hooks: LibraryHooks): Promise<Sandbox> {
  const rt = await openLibraryRuntime(config, hooks);
  const core = await CoreSandbox.create(rt, {
    id: config.id ?? randomId("sb"),
    ...(config.annotations !== undefined ? { annotations: config.annotations } : {}),
    ...(config.netns !== undefined ? { netns: config.netns } : {}),
    ...(config.hostname !== undefined ? { hostname: config.hostname } : {}),
    ...(config.onStage !== undefined ? { onStage: config.onStage } : {}),
    ...(config.signal !== undefined ? { signal: config.signal } : {}),
    ...(config.owner === "daemon" ? { keeper: "daemon" as const } : {}),
  });
  return new Sandbox(rt, core, config);
}

/**
 * A handle on an existing sandbox, also from another process: re-attaches to the VM and connects
 * to its agent. QEMU's control sockets take one client at a time, so the process holding the
 * sandbox must {@link Sandbox.release} it first. A sandbox whose VM is gone comes back `stopped`
 * (only delete remains).
 *
 * @throws {RuntimeError} `NotFound` when there is no such sandbox.
 */
export function fetchSandbox(id: string, opts: ConnectOptions = {}): Promise<Sandbox> {
  return fetchSandboxWith(id, opts, {});
}

/** {@link fetchSandbox} with injected plugins or agent connector (tests, embedders). */
export async function fetchSandboxWith(
  id: string,
  opts: ConnectOptions,
  hooks: LibraryHooks,
): Promise<Sandbox> {
  const rt = await openLibraryRuntime(opts, hooks);
  await borrowFromDaemon(rt, id);
  const core = await CoreSandbox.fetch(rt, id, opts.signal !== undefined ? { signal: opts.signal } : {});
  return new Sandbox(rt, core, opts);
}

/** Every sandbox in the store, read from the records (connects to none). */
export function listSandboxes(opts: ConnectOptions = {}): Promise<SandboxInfo[]> {
  return listSandboxesWith(opts, {});
}

/** {@link listSandboxes} with injected plugins or agent connector (tests, embedders). */
export async function listSandboxesWith(opts: ConnectOptions, hooks: LibraryHooks): Promise<SandboxInfo[]> {
  const rt = await openLibraryRuntime(opts, hooks);
  const out: SandboxInfo[] = [];
  for (const id of await CoreSandbox.list(rt)) {
    const sb = await CoreSandbox.fetch(rt, id, { connect: false }).catch(() => undefined);
    if (sb !== undefined) out.push(await infoOf(sb));
  }
  return out;
}

async function infoOf(sb: CoreSandbox): Promise<SandboxInfo> {
  const r = sb.record;
  return {
    id: r.id,
    state: r.status,
    createdAt: r.createdAt,
    hypervisor: r.hypervisor,
    vcpus: r.vcpus,
    memoryMiB: r.memoryMiB,
    pids: sb.pids(),
    annotations: r.annotations,
    containers: (await sb.containers()).map(containerInfo),
  };
}

/**
 * A sandbox: one VM with its guest agent, holding containers. Get one from {@link createSandbox}
 * or {@link fetchSandbox}. `await using` releases it (the VM keeps running); {@link delete}
 * removes it.
 */
export class Sandbox implements AsyncDisposable {
  readonly #rt: SandboxRuntime;
  readonly #core: CoreSandbox;
  readonly #relay: Relay;
  readonly #opts: ConnectOptions;
  #released = false;

  /** @internal Use createSandbox or fetchSandbox. */
  constructor(rt: SandboxRuntime, core: CoreSandbox, opts: ConnectOptions = {}) {
    this.#rt = rt;
    this.#core = core;
    this.#opts = opts;
    this.#relay = new Relay(() => this.#use("use"));
  }

  #use(op: string): CoreSandbox {
    if (this.#released) {
      throw new SandboxError(
        "FailedPrecondition",
        `Cannot ${op} sandbox "${this.id}": the handle was released`,
      );
    }
    return this.#core;
  }

  /** The sandbox id. */
  get id(): SandboxId {
    return this.#core.id;
  }

  /** State, resources, VM pids and containers, as recorded now. */
  async status(): Promise<SandboxInfo> {
    return await infoOf(this.#core);
  }

  /** Freezes the whole VM (every container). */
  async pause(): Promise<void> {
    return await this.#use("pause").act({ kind: "pause" });
  }

  /** Thaws the VM paused by {@link pause}. */
  async resume(): Promise<void> {
    return await this.#use("resume").act({ kind: "resume" });
  }

  /**
   * Events until the VM exits or `signal` aborts: process exits, OOM kills, errors, the VM's death.
   */
  monitor(opts: { signal?: AbortSignal } = {}): AsyncIterable<SandboxEvent> {
    return this.#use("monitor").monitor(opts);
  }

  /**
   * Drops this process's connections to the VM and agent; the VM keeps running. A sandbox created
   * with `owner: "daemon"` goes to the host daemon (see {@link SandboxConfig.owner}). Idempotent.
   *
   * @throws {RuntimeError} `Unavailable` when the daemon cannot take it (the handle is released
   * all the same, and the daemon takes the sandbox over once it runs).
   */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    const keep = this.#core.record.keeper === "daemon" && this.#core.status().kind !== "stopped";
    await this.#core.release();
    if (keep) await handToDaemon(this.#rt, this.id, this.#opts);
  }

  /**
   * Removes the sandbox: its containers (killed), the VM, taps the library made, shares, the
   * state directory and the records. Without `force` it refuses while containers still run.
   */
  async delete(opts: { force?: boolean } = {}): Promise<void> {
    await this.#use("delete").act({ kind: "delete", opts: opts.force === true ? { force: true } : {} });
    this.#released = true;
  }

  /** `await using sb = await createSandbox()` releases the handle; the sandbox stays. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  // Containers -----------------------------------------------------------------------------------

  /** Creates a container (shares its rootfs with the guest); its init waits for startContainer. */
  async createContainer(config: ContainerConfig): Promise<ContainerInfo> {
    const spec = containerSpec(config);
    const r = await this.#use("create a container in").act({
      kind: "create-container",
      opts: {
        id: config.id,
        spec,
        rootfs: config.rootfs,
        ...(config.stdin !== undefined ? { stdin: config.stdin } : {}),
      },
    });
    return containerInfo(r);
  }

  /** Starts a created container and returns its init process. */
  async startContainer(containerId: string): Promise<Process> {
    const r = await this.#use("start a container in").act({ kind: "start-container", containerId });
    const pid = r.status.kind === "running" || r.status.kind === "stopped" ? r.status.pid : 0;
    return new Process(this.#relay, r.id, undefined, pid);
  }

  /** A container's state and processes. @throws {RuntimeError} `NotFound` */
  async statusContainer(containerId: string): Promise<ContainerInfo> {
    return containerInfo(await this.#use("read a container of").container(containerId));
  }

  /** Every container of the sandbox. */
  async listContainers(): Promise<ContainerInfo[]> {
    return (await this.#use("list containers of").containers()).map(containerInfo);
  }

  /** Removes a container. Without `force` it must be created or stopped; with it, it is killed. */
  async deleteContainer(containerId: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.#use("delete a container of").act({
      kind: "delete-container",
      containerId,
      opts: opts.force ? { force: true } : {},
    });
    this.#relay.forget(containerId);
  }

  /** Runs another process in a running container (exec). */
  async enterContainer(containerId: string, cmd: ProcessConfig): Promise<Process> {
    const process = execProcessSpec(containerId, cmd);
    const id = cmd.id ?? randomId("exec");
    const r = await this.#use("exec in").act({
      kind: "exec",
      containerId,
      opts: { execId: id, process, ...(cmd.stdin !== undefined ? { stdin: cmd.stdin } : {}) },
    });
    return new Process(this.#relay, containerId, id, r.status.pid);
  }

  /** Waits for a process (the init when `processId` is absent); the exit code or 128 + signal. */
  async waitProcess(
    containerId: string,
    processId?: string,
    opts: { signal?: AbortSignal } = {},
  ): Promise<number> {
    return await this.#relay.waitProcess(containerId, processId, opts);
  }

  /** Resource usage of a container from its guest cgroup. */
  async statsContainer(containerId: string): Promise<ContainerStats> {
    return await this.#use("read stats of").act({ kind: "stats", containerId });
  }

  // Relay ----------------------------------------------------------------------------------------

  /** Sends a signal ("TERM", "SIGKILL", 9) to a process; `all`: every process of the container. */
  async signalProcess(
    containerId: string,
    processId: string | undefined,
    signal: string | number,
    opts: { all?: boolean } = {},
  ): Promise<void> {
    return await this.#relay.signalProcess(containerId, processId, signal, opts);
  }

  /** Sets the terminal size of a process that has a terminal. */
  async winsizeProcess(containerId: string, processId: string | undefined, size: WindowSize): Promise<void> {
    return await this.#relay.winsizeProcess(containerId, processId, size);
  }

  /** The process's stdio as Web Streams, opened once and shared by every caller of this handle. */
  ioStream(containerId: string, processId?: string): ProcessStreams {
    return this.#relay.ioStream(containerId, processId);
  }

  // Hot-plug -------------------------------------------------------------------------------------

  /** Hot-plugs a block device or raw image file into the running VM. */
  async addDevice(device: DeviceConfig): Promise<DeviceInfo> {
    return await this.#use("add a device to").act({ kind: "plug-block", device });
  }

  /** Unplugs a device added by addDevice (from this process or another). */
  async removeDevice(deviceId: string): Promise<void> {
    return await this.#use("remove a device from").act({ kind: "unplug-block", id: deviceId });
  }

  /** Devices added by addDevice and still plugged. */
  async listDevices(): Promise<DeviceInfo[]> {
    const id = this.#use("list devices of").id;
    return [...(await this.#rt.repo.loadSandbox(id)).hotplugged?.devices ?? []];
  }

  /** Hot-plugs a NIC (a host tap on virtio-net) and configures it in the guest. */
  async addInterface(iface: InterfaceConfig): Promise<NetworkInterface> {
    return await this.#use("add an interface to").act({ kind: "plug-nic", nic: iface });
  }

  /** Unplugs a NIC added by addInterface (by its guest name); removes the tap the library made. */
  async removeInterface(name: string): Promise<void> {
    return await this.#use("remove an interface from").act({ kind: "unplug-nic", name });
  }

  /** The guest's network interfaces. */
  async listInterfaces(): Promise<NetworkInterface[]> {
    return await this.#use("list interfaces of").act({ kind: "list-interfaces" });
  }

  /** Sets a guest interface (found by name, else by MAC and renamed): MTU, addresses, up. */
  async updateInterface(iface: NetworkInterface): Promise<NetworkInterface> {
    return await this.#use("update an interface of").act({ kind: "update-interface", iface });
  }

  /** The guest's routes. */
  async listRoutes(): Promise<Route[]> {
    return await this.#use("list routes of").act({ kind: "list-routes" });
  }

  /** Replaces the guest's routes with `routes` and returns the table as it is after. */
  async updateRoutes(routes: readonly Route[]): Promise<Route[]> {
    return await this.#use("update routes of").act({ kind: "update-routes", routes });
  }
}
