/**
 * Host-side client of the Cocoon guest agent: typed calls with timeouts over one ttRPC connection.
 *
 * ```ts
 * const agent = await AgentClient.connect(vm.agentAddress(), { timeoutMs: 60_000 });
 * await agent.createContainer({ id, spec });
 * await agent.startContainer(id);
 * const { exitStatus } = await agent.waitProcess({ containerId: id });
 * agent.close();
 * ```
 *
 * @module
 */
import {
  create,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import type { AgentAddress } from "../../plugins/types.ts";
import { AgentError, isRuntimeError } from "../errors.ts";
import type { ContainerId } from "../ids.ts";
import { type Logger, rootLog } from "../log/logger.ts";
import { Agent } from "../protocol/gen/cocoon/agent/v1/agent_pb.ts";
import { Health, ServingStatus } from "../protocol/gen/cocoon/agent/v1/health_pb.ts";
import { TtrpcClient } from "../protocol/ttrpc/client.ts";
import { type AttachedProcess, attachProcess } from "./attach.ts";
import * as t from "./trans.ts";
import type {
  AgentVersion,
  ArpNeighbor,
  ContainerStats,
  CreateContainerOptions,
  CreateSandboxOptions,
  ExecOptions,
  GuestDetails,
  GuestInterface,
  GuestRoute,
  JsonObject,
  OutputChunk,
  ProcessExit,
  ProcessRef,
  WindowSize,
} from "./types.ts";

interface MethodDesc<I extends DescMessage, O extends DescMessage> {
  readonly name: string;
  readonly input: I;
  readonly output: O;
  readonly parent: { readonly typeName: string };
}

/** Per-call options. `timeoutMs: 0` means no deadline (long polls: wait, read, OOM events). */
export interface AgentCallOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface AgentConnectOptions {
  /** Give up after this long (default 60 s: a TCG guest boots in seconds). */
  readonly timeoutMs?: number;
  /** Each Health.Check attempt's deadline (default 1 s). */
  readonly probeTimeoutMs?: number;
  readonly signal?: AbortSignal;
  readonly log?: Logger;
  /** Default deadline of unary calls (default 30 s). */
  readonly callTimeoutMs?: number;
  /**
   * Stream id of the first call on the first connection (odd, default 1); a reconnection continues
   * above the ids the previous connection used. The agent's virtio-serial port keeps requests an
   * abandoned connection wrote before the guest opened it, and answers them on the next connection:
   * with ids reused, those stale replies would be taken as the answers to new calls.
   */
  readonly firstStreamId?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A connected agent client. */
export class AgentClient implements Disposable {
  readonly #ttrpc: TtrpcClient;
  readonly #callTimeoutMs: number;

  constructor(ttrpc: TtrpcClient, opts: { callTimeoutMs?: number } = {}) {
    this.#ttrpc = ttrpc;
    this.#callTimeoutMs = opts.callTimeoutMs ?? 30_000;
  }

  /**
   * Connects to the agent at `address` and returns once it answers Health.Check. Retries the
   * connection (the VMM may not listen yet) and the check (the guest may still be booting).
   */
  static async connect(address: AgentAddress, opts: AgentConnectOptions = {}): Promise<AgentClient> {
    if (address.kind !== "unix") {
      throw new AgentError(
        "Unimplemented",
        `Cannot connect to the agent over ${address.kind}: only unix sockets are supported`,
      );
    }
    const log = opts.log ?? rootLog().child({ subsystem: "agent-client" });
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    let last: unknown;
    let ttrpc: TtrpcClient | undefined;
    let attempts = 0;
    while (Date.now() < deadline) {
      opts.signal?.throwIfAborted();
      try {
        if (!ttrpc || ttrpc.closed) {
          const firstStreamId = ttrpc?.nextStreamId ?? opts.firstStreamId ?? 1;
          ttrpc = await TtrpcClient.connect(address.path, { log, firstStreamId });
        }
        const client = new AgentClient(
          ttrpc,
          opts.callTimeoutMs !== undefined ? { callTimeoutMs: opts.callTimeoutMs } : {},
        );
        attempts++;
        if (
          await client.check({
            timeoutMs: opts.probeTimeoutMs ?? 1000,
            ...(opts.signal ? { signal: opts.signal } : {}),
          })
        ) {
          log.debug("agent answered", { path: address.path, attempts });
          return client;
        }
      } catch (e) {
        last = e;
        if (isRuntimeError(e) && e.code === "Cancelled") throw e;
      }
      await sleep(100);
    }
    ttrpc?.close();
    throw new AgentError(
      "DeadlineExceeded",
      `Cannot reach the agent at "${address.path}": no answer after ${attempts} checks`,
      {
        cause: last,
      },
    );
  }

  get closed(): boolean {
    return this.#ttrpc.closed;
  }

  close(): void {
    this.#ttrpc.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async #call<I extends DescMessage, O extends DescMessage>(
    m: MethodDesc<I, O>,
    req: MessageInitShape<I>,
    opts: AgentCallOptions | undefined,
    defaultTimeout: number = this.#callTimeoutMs,
  ): Promise<MessageShape<O>> {
    const timeoutMs = opts?.timeoutMs ?? defaultTimeout;
    try {
      const res = await this.#ttrpc.call(m.parent.typeName, m.name, toBinary(m.input, create(m.input, req)), {
        ...(timeoutMs > 0 ? { timeoutMs } : {}),
        ...(opts?.signal ? { signal: opts.signal } : {}),
      });
      return fromBinary(m.output, res);
    } catch (e) {
      if (isRuntimeError(e)) {
        throw new AgentError(e.code, `Agent call ${m.name} failed: ${e.message}`, { cause: e });
      }
      throw new AgentError("Internal", `Agent call ${m.name} failed: ${String(e)}`, { cause: e });
    }
  }

  // Health ------------------------------------------------------------------------------------

  /** True when the agent reports SERVING. */
  async check(opts?: AgentCallOptions): Promise<boolean> {
    const r = await this.#call(Health.method.check, {}, opts);
    return r.status === ServingStatus.SERVING;
  }

  async version(opts?: AgentCallOptions): Promise<AgentVersion> {
    return t.versionFromPb(await this.#call(Health.method.version, {}, opts));
  }

  // Sandbox and containers ----------------------------------------------------------------------

  async createSandbox(o: CreateSandboxOptions, opts?: AgentCallOptions): Promise<void> {
    await this.#call(Agent.method.createSandbox, {
      sandboxId: o.sandboxId,
      hostname: o.hostname ?? "",
      dns: [...(o.dns ?? [])],
      storages: (o.storages ?? []).map(t.storageToPb),
      ...(o.guestTime ? { guestTime: t.timestampFromDate(o.guestTime) } : {}),
    }, opts);
  }

  async destroySandbox(sandboxId: string, opts?: AgentCallOptions): Promise<void> {
    await this.#call(Agent.method.destroySandbox, { sandboxId }, opts);
  }

  /** Creates the container (init process created, not started). Returns its guest pid. */
  async createContainer(o: CreateContainerOptions, opts?: AgentCallOptions): Promise<number> {
    const r = await this.#call(Agent.method.createContainer, {
      containerId: o.id,
      ociSpecJson: t.jsonBytes(o.spec),
      storages: (o.storages ?? []).map(t.storageToPb),
      stdio: t.stdioToPb(o.stdio),
      guestBundle: o.bundle ?? "",
    }, opts);
    return r.pid;
  }

  async startContainer(id: ContainerId, opts?: AgentCallOptions): Promise<number> {
    return (await this.#call(Agent.method.startContainer, { containerId: id }, opts)).pid;
  }

  /** Removes a container; running processes get SIGTERM and `timeoutSecs` before SIGKILL. */
  async removeContainer(id: ContainerId, o: { timeoutSecs?: number } & AgentCallOptions = {}): Promise<void> {
    await this.#call(Agent.method.removeContainer, { containerId: id, timeoutSecs: o.timeoutSecs ?? 0 }, o);
  }

  async pauseContainer(id: ContainerId, opts?: AgentCallOptions): Promise<void> {
    await this.#call(Agent.method.pauseContainer, { containerId: id }, opts);
  }

  async resumeContainer(id: ContainerId, opts?: AgentCallOptions): Promise<void> {
    await this.#call(Agent.method.resumeContainer, { containerId: id }, opts);
  }

  /** Applies OCI `linux.resources`. */
  async updateContainer(id: ContainerId, resources: JsonObject, opts?: AgentCallOptions): Promise<void> {
    await this.#call(
      Agent.method.updateContainer,
      { containerId: id, resourcesJson: t.jsonBytes(resources) },
      opts,
    );
  }

  async statsContainer(id: ContainerId, opts?: AgentCallOptions): Promise<ContainerStats> {
    return t.statsFromPb((await this.#call(Agent.method.statsContainer, { containerId: id }, opts)).stats);
  }

  /** Long-polls the next OOM kill; resolves with the container id. */
  async nextOomEvent(opts?: AgentCallOptions): Promise<string> {
    return (await this.#call(Agent.method.getOOMEvent, {}, opts, 0)).containerId;
  }

  // Processes -------------------------------------------------------------------------------------

  async execProcess(o: ExecOptions, opts?: AgentCallOptions): Promise<number> {
    const r = await this.#call(Agent.method.execProcess, {
      containerId: o.containerId,
      execId: o.execId,
      processJson: t.jsonBytes(o.process),
      stdio: t.stdioToPb(o.stdio),
    }, opts);
    return r.pid;
  }

  async signalProcess(
    p: ProcessRef,
    signal: number,
    o: { all?: boolean } & AgentCallOptions = {},
  ): Promise<void> {
    await this.#call(
      Agent.method.signalProcess,
      { containerId: p.containerId, execId: p.execId ?? "", signal, all: o.all ?? false },
      o,
    );
  }

  /** Waits for the process to exit (no deadline unless `timeoutMs`). */
  async waitProcess(p: ProcessRef, opts?: AgentCallOptions): Promise<ProcessExit> {
    return t.exitFromPb(
      await this.#call(
        Agent.method.waitProcess,
        { containerId: p.containerId, execId: p.execId ?? "" },
        opts,
        0,
      ),
    );
  }

  async listProcesses(id: ContainerId, opts?: AgentCallOptions): Promise<{ pid: number; execId: string }[]> {
    const r = await this.#call(Agent.method.listProcesses, { containerId: id }, opts);
    return r.processes.slice(0, 65536).map((p) => ({ pid: p.pid, execId: p.execId }));
  }

  // Stdio -------------------------------------------------------------------------------------------

  async writeStdin(p: ProcessRef, data: Uint8Array, opts?: AgentCallOptions): Promise<number> {
    const r = await this.#call(Agent.method.writeStdin, {
      containerId: p.containerId,
      execId: p.execId ?? "",
      data,
    }, opts);
    return r.length;
  }

  /** Next stdout bytes (blocks until some arrive or EOF). */
  async readStdout(p: ProcessRef, maxLength = 65536, opts?: AgentCallOptions): Promise<OutputChunk> {
    const r = await this.#call(
      Agent.method.readStdout,
      { containerId: p.containerId, execId: p.execId ?? "", maxLength },
      opts,
      0,
    );
    return { data: r.data, eof: r.eof };
  }

  async readStderr(p: ProcessRef, maxLength = 65536, opts?: AgentCallOptions): Promise<OutputChunk> {
    const r = await this.#call(
      Agent.method.readStderr,
      { containerId: p.containerId, execId: p.execId ?? "", maxLength },
      opts,
      0,
    );
    return { data: r.data, eof: r.eof };
  }

  async closeStdin(p: ProcessRef, opts?: AgentCallOptions): Promise<void> {
    await this.#call(Agent.method.closeStdin, { containerId: p.containerId, execId: p.execId ?? "" }, opts);
  }

  async resizeTty(p: ProcessRef, size: WindowSize, opts?: AgentCallOptions): Promise<void> {
    await this.#call(Agent.method.ttyWinResize, {
      containerId: p.containerId,
      execId: p.execId ?? "",
      window: size,
    }, opts);
  }

  /** Attaches to a process's stdio over one streaming call (see attach.ts). */
  attach(p: ProcessRef, opts: { replace?: boolean; signal?: AbortSignal } = {}): Promise<AttachedProcess> {
    return attachProcess(this.#ttrpc, p, opts);
  }

  /** stdout (or stderr) as a pull-based stream: the agent is read only as fast as it is consumed. */
  output(
    p: ProcessRef,
    which: "stdout" | "stderr" = "stdout",
    opts: { signal?: AbortSignal } = {},
  ): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      pull: async (ctrl) => {
        const r = which === "stdout"
          ? await this.readStdout(p, 65536, opts)
          : await this.readStderr(p, 65536, opts);
        if (r.data.length > 0) ctrl.enqueue(r.data);
        if (r.eof) ctrl.close();
      },
    }, { highWaterMark: 0 });
  }

  // Network -----------------------------------------------------------------------------------------

  async listInterfaces(opts?: AgentCallOptions): Promise<GuestInterface[]> {
    const r = await this.#call(Agent.method.listInterfaces, {}, opts);
    return r.interfaces.slice(0, 1024).map(t.interfaceFromPb);
  }

  async updateInterface(i: GuestInterface, opts?: AgentCallOptions): Promise<GuestInterface> {
    return t.interfaceFromPb(
      await this.#call(Agent.method.updateInterface, { interface: t.interfaceToPb(i) }, opts),
    );
  }

  async listRoutes(opts?: AgentCallOptions): Promise<GuestRoute[]> {
    return (await this.#call(Agent.method.listRoutes, {}, opts)).routes.slice(0, 4096).map(t.routeFromPb);
  }

  async updateRoutes(routes: readonly GuestRoute[], opts?: AgentCallOptions): Promise<GuestRoute[]> {
    const r = await this.#call(Agent.method.updateRoutes, { routes: routes.map(t.routeToPb) }, opts);
    return r.routes.slice(0, 4096).map(t.routeFromPb);
  }

  async addArpNeighbors(ns: readonly ArpNeighbor[], opts?: AgentCallOptions): Promise<void> {
    await this.#call(Agent.method.addARPNeighbors, { neighbors: ns.map(t.neighborToPb) }, opts);
  }

  // Guest -------------------------------------------------------------------------------------------

  async guestDetails(opts?: AgentCallOptions): Promise<GuestDetails> {
    return t.detailsFromPb(await this.#call(Agent.method.getGuestDetails, {}, opts));
  }

  async setGuestTime(time: Date, opts?: AgentCallOptions): Promise<void> {
    await this.#call(Agent.method.setGuestDateTime, { time: t.timestampFromDate(time) }, opts);
  }

  async onlineCpuMem(
    o: { cpus?: number; cpuOnly?: boolean; wait?: boolean } & AgentCallOptions = {},
  ): Promise<void> {
    await this.#call(Agent.method.onlineCPUMem, {
      cpus: o.cpus ?? 0,
      cpuOnly: o.cpuOnly ?? false,
      wait: o.wait ?? false,
    }, o);
  }

  /** Copies a file into the guest in 1 MiB chunks (or makes a symlink with `symlinkTarget`). */
  async copyFile(
    guestPath: string,
    data: Uint8Array,
    o:
      & { mode?: number; dirMode?: number; uid?: number; gid?: number; symlinkTarget?: string }
      & AgentCallOptions = {},
  ): Promise<void> {
    const chunk = 1 << 20;
    let offset = 0;
    do {
      const part = data.subarray(offset, offset + chunk);
      await this.#call(Agent.method.copyFile, {
        path: guestPath,
        fileSize: BigInt(data.length),
        fileMode: o.mode ?? 0o644,
        dirMode: o.dirMode ?? 0o755,
        uid: o.uid ?? 0,
        gid: o.gid ?? 0,
        offset: BigInt(offset),
        data: part,
        symlinkTarget: o.symlinkTarget ?? "",
      }, o);
      offset += part.length;
    } while (offset < data.length);
  }

  async metrics(opts?: AgentCallOptions): Promise<string> {
    return (await this.#call(Agent.method.getMetrics, {}, opts)).text;
  }
}
