/**
 * Stand-ins for the sandbox lifecycle tests: an in-memory agent that "runs" a few busybox-like
 * programs (echo, sh -c 'exit N', sleep, cat), an in-memory VM and hypervisor (whose running VMs
 * survive a "process restart" so re-attach can be tested), an in-memory store and a storage plugin
 * that records what it shares.
 *
 * @module
 */
import type {
  AgentAddress,
  AttachedDevice,
  Device,
  GuestStorage,
  Hypervisor,
  HypervisorCapabilities,
  MetadataStore,
  OciMount,
  Vm,
  VmConfig,
  VmExit,
  VmState,
} from "../../plugins/types.ts";
import type {
  ContainerStats,
  CreateContainerOptions,
  CreateSandboxOptions,
  ExecOptions,
  GuestInterface,
  JsonObject,
  OutputChunk,
  ProcessExit,
  ProcessRef,
} from "../../runtime/agent_client/types.ts";
import { AgentError, HypervisorError, RuntimeError } from "../../runtime/errors.ts";
import { deviceId, type SandboxId } from "../../runtime/ids.ts";
import type { AgentApi } from "../../runtime/sandbox/agent_port.ts";
import type { PreparedShare } from "../../plugins/types.ts";
import type { SandboxStorage } from "../../runtime/sandbox/storage_port.ts";

const enc = new TextEncoder();

class FakeProcess {
  out: Uint8Array[] = [];
  exit: ProcessExit | undefined;
  readonly exited: Promise<ProcessExit>;
  #resolve!: (e: ProcessExit) => void;
  #wakers: (() => void)[] = [];
  constructor(readonly pid: number, readonly args: readonly string[]) {
    this.exited = new Promise((r) => (this.#resolve = r));
  }
  run(): void {
    const [prog, ...rest] = this.args;
    if (prog === "echo") {
      this.write(rest.join(" ") + "\n");
      this.finish(0);
    } else if (prog === "sh" && rest[0] === "-c") {
      const m = /^exit (\d+)$/.exec(rest[1] ?? "");
      this.finish(m ? Number(m[1]) : 0);
    } else if (prog === "sleep" || prog === "cat") {
      // runs until signalled
    } else {
      this.finish(127);
    }
  }
  write(s: string): void {
    this.out.push(enc.encode(s));
    this.#wake();
  }
  signal(sig: number): void {
    if (this.exit === undefined && sig !== 0 && sig !== 28) this.finish(128 + sig);
  }
  finish(code: number): void {
    if (this.exit !== undefined) return;
    this.exit = { exitStatus: code, exitedAt: new Date(), pid: this.pid };
    this.#resolve(this.exit);
    this.#wake();
  }
  #wake(): void {
    for (const w of this.#wakers.splice(0)) w();
  }
  async read(): Promise<OutputChunk> {
    while (this.out.length === 0 && this.exit === undefined) {
      await new Promise<void>((r) => this.#wakers.push(r));
    }
    const data = this.out.shift();
    return { data: data ?? new Uint8Array(), eof: data === undefined && this.exit !== undefined };
  }
}

interface FakeContainer {
  spec: JsonObject;
  storages: CreateContainerOptions["storages"];
  init: FakeProcess;
  started: boolean;
  paused: boolean;
  execs: Map<string, FakeProcess>;
}

/** An in-memory agent. `calls` lists the methods called, in order. */
export class FakeAgent implements AgentApi {
  readonly calls: string[] = [];
  readonly containers = new Map<string, FakeContainer>();
  sandbox: CreateSandboxOptions | undefined;
  #closed = false;
  #pid = 100;
  /** Make the next createContainer fail (rollback tests). */
  failCreate = false;
  /** Deliver signals but lose the reply, as when a fatal signal ends the VM before it is sent. */
  loseSignalReply = false;
  /** WaitProcess calls by process ("c1" or "c1/e1"). */
  readonly waits = new Map<string, number>();
  /** When set, startContainer answers only once it resolves (a slow start). */
  holdStart: Promise<void> | undefined;

  get closed(): boolean {
    return this.#closed;
  }
  /** A new connection to the same agent (the fake keeps one state). */
  reopen(): void {
    this.#closed = false;
  }
  close(): void {
    this.#closed = true;
    this.calls.push("close");
  }
  #c(id: string): FakeContainer {
    const c = this.containers.get(id);
    if (c === undefined) throw new AgentError("NotFound", `container "${id}" not found`);
    return c;
  }
  #p(ref: ProcessRef): FakeProcess {
    const c = this.#c(ref.containerId);
    if (ref.execId === undefined || ref.execId === "") return c.init;
    const p = c.execs.get(ref.execId);
    if (p === undefined) throw new AgentError("NotFound", `process "${ref.execId}" not found`);
    return p;
  }
  check(): Promise<boolean> {
    return Promise.resolve(!this.#closed);
  }
  createSandbox(o: CreateSandboxOptions): Promise<void> {
    this.calls.push("createSandbox");
    this.sandbox = o;
    return Promise.resolve();
  }
  destroySandbox(): Promise<void> {
    this.calls.push("destroySandbox");
    return Promise.resolve();
  }
  createContainer(o: CreateContainerOptions): Promise<number> {
    this.calls.push(`createContainer ${o.id}`);
    if (this.failCreate) return Promise.reject(new AgentError("Internal", "crun create failed"));
    if (this.containers.has(o.id)) return Promise.reject(new AgentError("AlreadyExists", "exists"));
    const proc = o.spec["process"];
    const args = typeof proc === "object" && proc !== null && "args" in proc && Array.isArray(proc.args)
      ? proc.args.map(String)
      : [];
    const init = new FakeProcess(++this.#pid, args);
    this.containers.set(o.id, {
      spec: o.spec,
      storages: o.storages,
      init,
      started: false,
      paused: false,
      execs: new Map(),
    });
    return Promise.resolve(init.pid);
  }
  async startContainer(id: string): Promise<number> {
    this.calls.push(`startContainer ${id}`);
    const c = this.#c(id);
    if (this.holdStart !== undefined) await this.holdStart;
    c.started = true;
    c.init.run();
    return c.init.pid;
  }
  removeContainer(id: string): Promise<void> {
    this.calls.push(`removeContainer ${id}`);
    const c = this.#c(id);
    c.init.finish(137);
    this.containers.delete(id);
    return Promise.resolve();
  }
  pauseContainer(id: string): Promise<void> {
    this.calls.push(`pauseContainer ${id}`);
    this.#c(id).paused = true;
    return Promise.resolve();
  }
  resumeContainer(id: string): Promise<void> {
    this.#c(id).paused = false;
    return Promise.resolve();
  }
  updateContainer(): Promise<void> {
    return Promise.resolve();
  }
  statsContainer(): Promise<ContainerStats> {
    return Promise.resolve({ sampledAt: new Date() });
  }
  execProcess(o: ExecOptions): Promise<number> {
    const c = this.#c(o.containerId);
    const args = Array.isArray(o.process["args"]) ? o.process["args"].map(String) : [];
    const p = new FakeProcess(++this.#pid, args);
    c.execs.set(o.execId, p);
    p.run();
    return Promise.resolve(p.pid);
  }
  signalProcess(ref: ProcessRef, signal: number): Promise<void> {
    this.calls.push(`signalProcess ${ref.containerId} ${signal}`);
    this.#p(ref).signal(signal);
    if (!this.loseSignalReply) return Promise.resolve();
    return new Promise((_, reject) =>
      setTimeout(() => reject(new AgentError("Unavailable", "connection closed")), 50)
    );
  }
  waitProcess(ref: ProcessRef): Promise<ProcessExit> {
    const key = ref.execId ? `${ref.containerId}/${ref.execId}` : ref.containerId;
    this.waits.set(key, (this.waits.get(key) ?? 0) + 1);
    return this.#p(ref).exited;
  }
  listProcesses(id: string): Promise<{ pid: number; execId: string }[]> {
    const c = this.#c(id);
    return Promise.resolve([
      { pid: c.init.pid, execId: "" },
      ...[...c.execs].map(([e, p]) => ({ pid: p.pid, execId: e })),
    ]);
  }
  writeStdin(_ref: ProcessRef, data: Uint8Array): Promise<number> {
    return Promise.resolve(data.length);
  }
  readStdout(ref: ProcessRef): Promise<OutputChunk> {
    return this.#p(ref).read();
  }
  readStderr(ref: ProcessRef): Promise<OutputChunk> {
    const p = this.#p(ref);
    return p.exited.then(() => ({ data: new Uint8Array(), eof: true }));
  }
  closeStdin(): Promise<void> {
    return Promise.resolve();
  }
  resizeTty(): Promise<void> {
    return Promise.resolve();
  }
  output(ref: ProcessRef, which: "stdout" | "stderr" = "stdout"): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      pull: async (ctrl) => {
        const r = which === "stdout" ? await this.readStdout(ref) : await this.readStderr(ref);
        if (r.data.length > 0) ctrl.enqueue(r.data);
        if (r.eof) ctrl.close();
      },
    }, { highWaterMark: 0 });
  }
  listInterfaces(): Promise<GuestInterface[]> {
    return Promise.resolve([]);
  }
  updateInterface(i: GuestInterface): Promise<GuestInterface> {
    this.calls.push(`updateInterface ${i.name}`);
    return Promise.resolve(i);
  }
  listRoutes(): Promise<never[]> {
    return Promise.resolve([]);
  }
  updateRoutes(): Promise<never[]> {
    return Promise.resolve([]);
  }
  nextOomEvent(): Promise<string> {
    return new Promise(() => {});
  }
  guestDetails(): Promise<never> {
    return Promise.reject(new RuntimeError("Unimplemented", "not in the fake"));
  }
}

/** VMs "running" in the fake host, by sandbox id: they outlive FakeHypervisor instances. */
export class FakeHost {
  readonly running = new Map<string, { pid: number; agent: FakeAgent; devices: Device[]; paused: boolean }>();
  #pid = 40000;
  nextPid(): number {
    return ++this.#pid;
  }
}

class FakeVm implements Vm {
  #exit: Promise<VmExit>;
  #resolveExit!: (e: VmExit) => void;
  constructor(
    readonly id: SandboxId,
    readonly host: FakeHost,
    readonly config: VmConfig | undefined,
    public pid: number,
  ) {
    this.#exit = new Promise((r) => (this.#resolveExit = r));
  }
  start(): Promise<void> {
    if (this.config === undefined) {
      return Promise.reject(new HypervisorError("FailedPrecondition", "attached"));
    }
    this.pid = this.host.nextPid();
    this.host.running.set(this.id, {
      pid: this.pid,
      agent: new FakeAgent(),
      devices: [...this.config.devices],
      paused: false,
    });
    return Promise.resolve();
  }
  stop(): Promise<void> {
    this.host.running.delete(this.id);
    this.#resolveExit({ kind: "killed" });
    return Promise.resolve();
  }
  pause(): Promise<void> {
    const r = this.host.running.get(this.id);
    if (r) r.paused = true;
    return Promise.resolve();
  }
  resume(): Promise<void> {
    const r = this.host.running.get(this.id);
    if (r) r.paused = false;
    return Promise.resolve();
  }
  wait(): Promise<VmExit> {
    return this.#exit;
  }
  addDevice(device: Device): Promise<AttachedDevice> {
    this.host.running.get(this.id)?.devices.push(device);
    return Promise.resolve({ device, guestAddress: "0000:01:00.0" });
  }
  removeDevice(d: AttachedDevice): Promise<void> {
    const r = this.host.running.get(this.id);
    if (r) r.devices = r.devices.filter((x) => x.id !== d.device.id);
    return Promise.resolve();
  }
  agentAddress(): AgentAddress {
    return { kind: "unix", path: `/fake/${this.id}/agent.sock` };
  }
  pids(): readonly number[] {
    return this.host.running.has(this.id) ? [this.pid] : [];
  }
  saveState(): VmState {
    return { id: this.id, hypervisor: "fake", pid: this.pid, stateDir: "/fake", agent: this.agentAddress() };
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

export class FakeHypervisor implements Hypervisor {
  readonly configs: VmConfig[] = [];
  failStart = false;
  constructor(readonly host: FakeHost) {}
  capabilities(): HypervisorCapabilities {
    return {
      blockHotplug: true,
      netHotplug: true,
      sharedFs: ["9p"],
      vsock: false,
      pause: true,
      template: false,
      simulatedPids: true,
    };
  }
  check(): Promise<void> {
    return Promise.resolve();
  }
  createVm(config: VmConfig): Promise<Vm> {
    this.configs.push(config);
    const vm = new FakeVm(config.id, this.host, config, 0);
    if (this.failStart) {
      vm.start = () => Promise.reject(new HypervisorError("Internal", "qemu exited with code 1"));
    }
    return Promise.resolve(vm);
  }
  attachVm(state: VmState): Promise<Vm> {
    const r = this.host.running.get(state.id);
    if (r === undefined) {
      return Promise.reject(new HypervisorError("NotFound", `process ${state.pid} is gone`));
    }
    return Promise.resolve(new FakeVm(state.id, this.host, undefined, r.pid));
  }
}

/** Connector that finds the fake agent of the fake VM named in the address. */
export function fakeConnector(host: FakeHost): (a: AgentAddress) => Promise<AgentApi> {
  return (a) => {
    const id = a.kind === "unix" ? a.path.split("/")[2] ?? "" : "";
    const r = host.running.get(id);
    if (r === undefined) return Promise.reject(new AgentError("DeadlineExceeded", "no agent"));
    r.agent.reopen();
    return Promise.resolve(r.agent);
  };
}

export class MemoryStore implements MetadataStore {
  readonly data = new Map<string, string>();
  save(key: string, value: unknown): Promise<void> {
    this.data.set(key, JSON.stringify(value));
    return Promise.resolve();
  }
  load(key: string): Promise<unknown> {
    const v = this.data.get(key);
    return Promise.resolve(v === undefined ? undefined : JSON.parse(v));
  }
  delete(key: string): Promise<void> {
    this.data.delete(key);
    return Promise.resolve();
  }
  list(prefix = ""): Promise<string[]> {
    return Promise.resolve([...this.data.keys()].filter((k) => k.startsWith(prefix)).sort());
  }
}

/** A shared-fs storage plugin that records shares instead of mounting. */
export class RecordingShare implements SandboxStorage {
  /** Guest path -> host source of what is shared now. */
  readonly shared = new Map<string, string>();
  released = 0;
  canHandle(m: OciMount): boolean {
    return m.type === "bind";
  }
  prepareSandbox(o: { dir: string }): Promise<PreparedShare> {
    return Promise.resolve({
      devices: [{
        kind: "share-fs",
        id: deviceId("shared"),
        tag: "cocoon-shared",
        source: `${o.dir}/shared`,
        transport: "9p",
      }],
      storages: [{
        driver: "9p",
        source: "cocoon-shared",
        fstype: "9p",
        options: [],
        mountPoint: "/run/cocoon/shared",
        devices: [],
      }],
      state: { hostDir: `${o.dir}/shared` },
    });
  }
  releaseSandbox(): Promise<void> {
    this.released++;
    return Promise.resolve();
  }
  share(m: OciMount, o: { guestPath: string }): Promise<GuestStorage> {
    const source = `/run/cocoon/shared${o.guestPath}`;
    this.shared.set(source, m.source ?? "");
    return Promise.resolve({
      driver: "shared",
      source,
      fstype: "none",
      options: [],
      mountPoint: source,
      devices: [],
    });
  }
  unshare(s: GuestStorage): Promise<void> {
    this.shared.delete(s.source);
    return Promise.resolve();
  }
}
