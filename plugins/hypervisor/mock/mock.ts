/**
 * An in-memory {@link Hypervisor} and {@link Vm} for unit tests of the sandbox core: every call is
 * recorded, states follow a real VM's (created → running ⇄ paused → stopped), and failures and
 * guest exits can be injected. It never starts a process.
 *
 * @module
 */
import { HypervisorError, type RuntimeError } from "../../../runtime/errors.ts";
import type { SandboxId } from "../../../runtime/ids.ts";
import type {
  AgentAddress,
  AttachedDevice,
  Device,
  Hypervisor,
  HypervisorCapabilities,
  Vm,
  VmConfig,
  VmExit,
  VmState,
} from "../../types.ts";

export type MockVmStatus = "created" | "running" | "paused" | "stopped";

/** One recorded call. */
export interface MockCall {
  readonly vm?: SandboxId;
  readonly method: string;
  readonly args: readonly unknown[];
}

export interface MockHypervisorOptions {
  /** Errors to throw from a method, by name ("start", "addDevice", "createVm"...); removed after use unless `sticky`. */
  readonly failures?: Readonly<Record<string, RuntimeError>>;
  readonly stickyFailures?: boolean;
  /** Agent address handed out; default `{ kind: "unix", path: <stateDir>/agent.sock }`. */
  readonly agentAddress?: (config: VmConfig) => AgentAddress;
  readonly capabilities?: Partial<HypervisorCapabilities>;
}

let nextPid = 100_000;

/** Runs `fn`, turning a synchronous throw into a rejected promise. */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e);
  }
}

/** The mock VM handle. */
export class MockVm implements Vm {
  readonly id: SandboxId;
  readonly config: VmConfig;
  readonly #hv: MockHypervisor;
  #status: MockVmStatus = "created";
  #pid = 0;
  #devices: AttachedDevice[];
  #vcpus: number;
  #memoryMiB: number;
  #exit: Promise<VmExit>;
  #resolveExit: (e: VmExit) => void = () => {};

  constructor(hv: MockHypervisor, config: VmConfig, attached?: { pid: number }) {
    this.#hv = hv;
    this.id = config.id;
    this.config = config;
    this.#devices = config.devices.map((device) => ({ device }));
    this.#vcpus = config.vcpus;
    this.#memoryMiB = config.memoryMiB;
    this.#exit = new Promise((r) => (this.#resolveExit = r));
    if (attached) {
      this.#pid = attached.pid;
      this.#status = "running";
    }
  }

  get status(): MockVmStatus {
    return this.#status;
  }
  get devices(): readonly AttachedDevice[] {
    return this.#devices;
  }
  get vcpus(): number {
    return this.#vcpus;
  }
  get memoryMiB(): number {
    return this.#memoryMiB;
  }

  /** Simulates the guest going away on its own (power-off, crash, kill). */
  simulateExit(exit: VmExit = { kind: "shutdown" }): void {
    if (this.#status === "stopped") return;
    this.#status = "stopped";
    this.#resolveExit(exit);
  }

  #call(method: string, ...args: unknown[]): void {
    this.#hv.record({ vm: this.id, method, args });
  }

  #need(op: string, ...ok: MockVmStatus[]): void {
    if (!ok.includes(this.#status)) {
      throw new HypervisorError("FailedPrecondition", `Cannot ${op} VM "${this.id}": it is ${this.#status}`);
    }
  }

  start(_opts?: { signal?: AbortSignal }): Promise<void> {
    return settle(() => {
      this.#call("start");
      this.#need("start", "created");
      this.#status = "running";
      this.#pid = nextPid++;
      return;
    });
  }

  stop(opts: { force?: boolean; timeoutMs?: number } = {}): Promise<void> {
    return settle(() => {
      this.#call("stop", opts);
      if (this.#status === "stopped" || this.#status === "created") {
        this.#status = "stopped";
        return;
      }
      this.simulateExit(opts.force === true ? { kind: "killed", signal: "SIGKILL" } : { kind: "shutdown" });
      return;
    });
  }

  pause(): Promise<void> {
    return settle(() => {
      this.#call("pause");
      this.#need("pause", "running", "paused");
      this.#status = "paused";
      return;
    });
  }

  resume(): Promise<void> {
    return settle(() => {
      this.#call("resume");
      this.#need("resume", "running", "paused");
      this.#status = "running";
      return;
    });
  }

  wait(): Promise<VmExit> {
    this.#call("wait");
    return this.#exit;
  }

  addDevice(device: Device): Promise<AttachedDevice> {
    return settle(() => {
      this.#call("addDevice", device);
      this.#need("add a device to", "running", "paused");
      if (this.#devices.some((d) => d.device.id === device.id)) {
        throw new HypervisorError(
          "AlreadyExists",
          `Cannot add device "${device.id}" to VM "${this.id}": the id is in use`,
        );
      }
      const att: AttachedDevice = {
        device,
        guestAddress: `0000:${(this.#devices.length + 1).toString(16).padStart(2, "0")}:00.0`,
      };
      this.#devices.push(att);
      return att;
    });
  }

  removeDevice(device: AttachedDevice): Promise<void> {
    return settle(() => {
      this.#call("removeDevice", device);
      this.#need("remove a device from", "running", "paused");
      const i = this.#devices.findIndex((d) => d.device.id === device.device.id);
      if (i < 0) {
        throw new HypervisorError(
          "NotFound",
          `Cannot remove device "${device.device.id}" from VM "${this.id}": not attached`,
        );
      }
      this.#devices.splice(i, 1);
      return;
    });
  }

  resizeVcpus(count: number): Promise<{ before: number; after: number }> {
    return settle(() => {
      this.#call("resizeVcpus", count);
      this.#need("resize", "running", "paused");
      if (count < 1 || count > this.config.maxVcpus) {
        throw new HypervisorError(
          "OutOfRange",
          `Cannot resize VM "${this.id}" to ${count} vCPUs: use 1 to ${this.config.maxVcpus}`,
        );
      }
      const before = this.#vcpus;
      this.#vcpus = count;
      return ({ before, after: count });
    });
  }

  resizeMemory(mib: number): Promise<{ before: number; after: number }> {
    return settle(() => {
      this.#call("resizeMemory", mib);
      this.#need("resize", "running", "paused");
      if (mib < 64 || mib > this.config.maxMemoryMiB) {
        throw new HypervisorError(
          "OutOfRange",
          `Cannot resize VM "${this.id}" memory to ${mib} MiB: use 64 to ${this.config.maxMemoryMiB}`,
        );
      }
      const before = this.#memoryMiB;
      this.#memoryMiB = mib;
      return ({ before, after: mib });
    });
  }

  agentAddress(): AgentAddress {
    return this.#hv.agentAddressOf(this.config);
  }

  pids(): readonly number[] {
    return this.#status === "running" || this.#status === "paused" ? [this.#pid] : [];
  }

  saveState(): VmState {
    return {
      id: this.id,
      hypervisor: "mock",
      pid: this.#pid,
      stateDir: this.config.stateDir,
      agent: this.agentAddress(),
      extra: { config: this.config },
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop({ force: true });
  }
}

/** The mock driver. `calls` holds every call on it and its VMs, in order. */
export class MockHypervisor implements Hypervisor {
  readonly calls: MockCall[] = [];
  readonly vms = new Map<SandboxId, MockVm>();
  readonly #opts: MockHypervisorOptions;
  readonly #failures: Map<string, RuntimeError>;

  constructor(opts: MockHypervisorOptions = {}) {
    this.#opts = opts;
    this.#failures = new Map(Object.entries(opts.failures ?? {}));
  }

  /** Makes the next call of `method` (on the driver or any VM) throw `error`. */
  failNext(method: string, error: RuntimeError): void {
    this.#failures.set(method, error);
  }

  /** Calls of one method, optionally for one VM. */
  callsOf(method: string, vm?: SandboxId): MockCall[] {
    return this.calls.filter((c) => c.method === method && (vm === undefined || c.vm === vm));
  }

  /** @internal records a call and throws an injected failure. */
  record(call: MockCall): void {
    this.calls.push(call);
    const err = this.#failures.get(call.method);
    if (err !== undefined) {
      if (this.#opts.stickyFailures !== true) this.#failures.delete(call.method);
      throw err;
    }
  }

  /** @internal */
  agentAddressOf(config: VmConfig): AgentAddress {
    return this.#opts.agentAddress?.(config) ?? { kind: "unix", path: `${config.stateDir}/agent.sock` };
  }

  capabilities(): HypervisorCapabilities {
    return {
      blockHotplug: true,
      netHotplug: true,
      sharedFs: ["9p", "virtio-fs"],
      vsock: false,
      pause: true,
      template: false,
      simulatedPids: true,
      ...this.#opts.capabilities,
    };
  }

  check(_opts?: { signal?: AbortSignal }): Promise<void> {
    return settle(() => {
      this.record({ method: "check", args: [] });
      return;
    });
  }

  createVm(config: VmConfig, _opts?: { signal?: AbortSignal }): Promise<Vm> {
    return settle(() => {
      this.record({ vm: config.id, method: "createVm", args: [config] });
      if (this.vms.has(config.id) && this.vms.get(config.id)?.status !== "stopped") {
        throw new HypervisorError("AlreadyExists", `Cannot create VM "${config.id}": it exists`);
      }
      const vm = new MockVm(this, config);
      this.vms.set(config.id, vm);
      return vm;
    });
  }

  attachVm(state: VmState, _opts?: { signal?: AbortSignal }): Promise<Vm> {
    return settle(() => {
      this.record({ vm: state.id, method: "attachVm", args: [state] });
      const existing = this.vms.get(state.id);
      if (existing !== undefined && existing.status !== "stopped" && existing.pids()[0] === state.pid) {
        return existing;
      }
      throw new HypervisorError(
        "NotFound",
        `Cannot attach to VM "${state.id}": process ${state.pid} is gone`,
      );
    });
  }
}
