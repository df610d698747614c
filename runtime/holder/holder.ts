/**
 * The per-container holder: the process that runc-style callers see as "the container". It owns
 * the sandbox in-process (VM, agent connection), relays the container's stdio to the stdio it
 * inherited from `create` (or to a terminal whose master went to `--console-socket`), answers the
 * short-lived CLI verbs on its control socket, and ends with the container's exit status (callers
 * such as conmon and containerd's runc shim wait on its pid).
 *
 * @module
 */
import { isRuntimeError, RuntimeError, toRuntimeError } from "../errors.ts";
import type { ContainerId } from "../ids.ts";
import type { Logger } from "../log/logger.ts";
import type { OciBundle } from "../oci/bundle.ts";
import { isAlive, Sandbox, type SandboxRuntime } from "../sandbox/mod.ts";
import { type ConsoleSlave, sendConsole } from "../sys/console_socket.ts";
import { writeHolderInfo } from "./info.ts";
import { processStartTime } from "../sys/process_identity.ts";
import { writeAtomic } from "../sys/files.ts";
import type { OciPaths } from "./paths.ts";
import { atMost, type HostStdio, type Relay, relayStreams, relayTerminal } from "./relay.ts";
import { handleRequest } from "./handlers.ts";
import { KILLED_STATUS } from "./wire.ts";
import { hooksOf, type HookStage, type OciHooks, refuseContainerHooks, runHooks } from "../oci/hooks.ts";
import type { OciState } from "../oci/state.ts";
import { createPodNetns, type PodNetns } from "./pod_netns.ts";
import { cgroupsPathOf, joinHostCgroup } from "../sys/host_cgroup.ts";
import { sizeOfResources } from "../sandbox/sizing.ts";
import { cgroupsRecord } from "./paths.ts";
import { sandboxDir } from "../sandbox/layout.ts";
import { sandboxId } from "../ids.ts";
import { ControlServer } from "./server.ts";

export interface HolderOptions {
  readonly rt: SandboxRuntime;
  readonly id: ContainerId;
  readonly bundle: OciBundle;
  readonly paths: OciPaths;
  readonly stdio: HostStdio;
  readonly consoleSocket?: string;
  readonly log: Logger;
  /** The pid written to holder.json (default this process). */
  readonly pid?: number;
  /** Let a process stdin reach the container on a terminal given as plain stdio (`cocoon run -t`). */
  readonly terminalOnStdio?: boolean;
  /** Aborts a create in progress (rolled back). */
  readonly signal?: AbortSignal;
}

export class Holder {
  readonly sandbox: Sandbox;
  readonly id: ContainerId;
  readonly log: Logger;
  readonly #paths: OciPaths;
  readonly #relay: Relay;
  readonly #tty: ConsoleSlave | null;
  readonly #hooks: OciHooks;
  readonly #netns: PodNetns | null;
  readonly #bundle: OciBundle;
  #server: ControlServer | undefined;
  #waiter: Promise<number> | undefined;
  readonly #done = Promise.withResolvers<number>();
  readonly #ending = Promise.withResolvers<void>();
  #finishing = false;

  private constructor(
    sb: Sandbox,
    opts: HolderOptions,
    relay: Relay,
    tty: ConsoleSlave | null,
    hooks: OciHooks,
    netns: PodNetns | null,
  ) {
    this.sandbox = sb;
    this.#hooks = hooks;
    this.#netns = netns;
    this.#bundle = opts.bundle;
    this.id = opts.id;
    this.log = opts.log;
    this.#paths = opts.paths;
    this.#relay = relay;
    this.#tty = tty;
  }

  /**
   * Boots the sandbox, creates the container, connects its stdio, listens on the control socket
   * and writes holder.json. On failure nothing is left but the error, which is also written to
   * `paths.error` for the waiting `create`.
   */
  static async create(opts: HolderOptions): Promise<Holder> {
    const { id, bundle, log } = opts;
    // The sandbox's record names this holder: actions on it come to its control socket.
    const rt: SandboxRuntime = { ...opts.rt, owner: { kind: "holder", socket: opts.paths.socket } };
    let sb: Sandbox | undefined;
    let tty: ConsoleSlave | null = null;
    let podNetns: PodNetns | null = null;
    try {
      const spec = bundle.spec;
      const hooks = hooksOf(spec.raw);
      refuseContainerHooks(hooks, id);
      refuseHostNamespaces(spec.raw, id);
      // In the container's host cgroup before anything starts: QEMU and virtiofsd follow.
      const podCgroup = cgroupsPathOf(spec.raw);
      const cgroups = await joinHostCgroup(
        podCgroup,
        Deno.pid,
        (dir, e) => log.warn("cannot join the container's host cgroup", { dir, error: e }),
      );
      if (cgroups.length > 0) await writeAtomic(cgroupsRecord(opts.paths), JSON.stringify(cgroups));
      const terminal = spec.process?.terminal ?? false;
      if (terminal && opts.consoleSocket === undefined && opts.terminalOnStdio !== true) {
        throw new RuntimeError(
          "InvalidArgument",
          `Cannot create container "${id}": process.terminal is true but no --console-socket was given`,
        );
      }
      // No sandbox hostname: the container's own (spec.hostname, in its UTS namespace) is set by
      // the guest's OCI runtime.
      // Host hooks run before the VM's network is wired: a new network namespace the spec asks for
      // is made here, so that a hook (Docker's libnetwork-setkey) can fill it for the VM to take.
      let netns = spec.netns;
      if (
        netns === null && wantsNewNetns(spec.raw) && hooks.prestart.length + hooks.createRuntime.length > 0
      ) {
        podNetns = await createPodNetns(sandboxDir(rt.config.runtime.stateDir, sandboxId(id)));
        netns = podNetns.path;
      }
      const creating = hookState(id, bundle, podNetns?.pid ?? opts.pid ?? Deno.pid, "creating");
      await runHooks("prestart", hooks, creating, log);
      await runHooks("createRuntime", hooks, creating, log);
      sb = await Sandbox.create(rt, {
        id,
        annotations: spec.annotations,
        netns,
        // A VM per container: it is sized from the container's limits, as Kata does.
        size: sizeOfResources(linuxField(spec.raw, "resources")),
        // QEMU and virtiofsd are there already (they start from this process); virtiofsd too, and
        // the group gets a memory bound when it has none
        ...(podCgroup !== undefined ? { cgroupsPath: podCgroup } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      log.info("sandbox created", {
        sharedFs: rt.config.hypervisor.sharedFs,
        ...(rt.config.hypervisor.sharedFsAuto !== undefined
          ? { sharedFsAuto: rt.config.hypervisor.sharedFsAuto }
          : {}),
      });
      await sb.act({
        kind: "create-container",
        opts: {
          id,
          spec,
          rootfs: bundle.rootfs,
          bundle: bundle.dir,
          stdin: true,
          ...(opts.signal ? { signal: opts.signal } : {}),
        },
      });
      const io = sb.io(id);
      let relay: Relay;
      if (terminal && opts.consoleSocket !== undefined) {
        tty = sendConsole(opts.consoleSocket);
        relay = relayTerminal(io, tty, log);
      } else {
        relay = relayStreams(io, opts.stdio, log);
      }
      const h = new Holder(sb, opts, relay, tty, hooks, podNetns);
      h.#server = await ControlServer.listen(
        opts.paths.socket,
        (req, conn) => handleRequest(h, req, conn),
        log,
      );
      const pid = opts.pid ?? Deno.pid;
      await writeHolderInfo(opts.paths.info, {
        pid,
        startTime: await processStartTime(pid) ?? "",
        socket: opts.paths.socket,
        bundle: bundle.dir,
        createdAt: new Date().toISOString(),
      });
      // The VM can die under us (kill -9 of QEMU): the container is then gone too.
      void sb.waitVm().then(() => h.finish(KILLED_STATUS, "the VM exited"), () => {});
      return h;
    } catch (e) {
      const err = toRuntimeError(e);
      log.error("create failed", { error: e });
      tty?.close();
      if (sb !== undefined) {
        await sb.act({ kind: "delete", opts: { force: true } }).catch((de) =>
          log.error("cleanup failed", { error: de })
        );
      }
      await podNetns?.close().catch((ne) => log.error("cleanup failed", { error: ne }));
      await writeAtomic(opts.paths.error, JSON.stringify({ code: err.code, message: err.message })).catch(
        () => {},
      );
      throw err;
    }
  }

  /** Resolves with the status the holder must exit with, once everything is released. */
  get done(): Promise<number> {
    return this.#done.promise;
  }

  /**
   * Resolves as soon as the holder starts to finish (the container ended, or a delete): before
   * `done`, which waits for open control connections to close.
   */
  get ending(): Promise<void> {
    return this.#ending.promise;
  }

  /** Starts waiting for the container's init (after start, or after a signal to a created one). */
  watchExit(): void {
    if (this.#waiter !== undefined) return;
    this.#waiter = this.sandbox.wait(this.id).then(
      (x) => x.exitStatus,
      (e) => {
        this.log.warn("wait failed", { error: e });
        return KILLED_STATUS;
      },
    );
    void this.#waiter.then((status) => this.finish(status, "the container exited"));
  }

  /** Flushes output, stops the VM, closes the socket and resolves `done` with `status`. */
  async finish(status: number, reason: string): Promise<void> {
    if (this.#finishing) return;
    this.#finishing = true;
    this.#ending.resolve();
    this.log.info("holder finishing", { status, reason });
    await atMost(this.#relay.drained, 3000);
    this.#relay.stop();
    this.#tty?.close();
    if (this.sandbox.status().kind !== "stopped") {
      await this.sandbox.act({ kind: "stop", force: true }).catch((e) =>
        this.log.warn("stop failed", { error: e })
      );
    }
    await this.#netns?.close().catch((e) => this.log.warn("netns removal failed", { error: e }));
    await this.closeServer();
    this.#done.resolve(status);
  }

  /** Removes the whole sandbox (delete / delete --force), then finishes. */
  async remove(force: boolean): Promise<void> {
    const c = await this.sandbox.container(this.id);
    if (!force && isAlive(c.status) && c.status.kind !== "created") {
      throw new RuntimeError(
        "FailedPrecondition",
        `Cannot delete container "${this.id}" that is not stopped: it is ${c.status.kind}`,
      );
    }
    this.#finishing = true;
    this.#ending.resolve();
    this.#relay.stop();
    this.#tty?.close();
    try {
      await this.sandbox.act({ kind: "delete", opts: { force: true } });
    } catch (e) {
      if (!(isRuntimeError(e) && e.code === "NotFound")) throw e;
    }
    await this.#netns?.close().catch((e) => this.log.warn("netns removal failed", { error: e }));
    await this.runHooks("poststop", "stopped");
    const status = c.status.kind === "stopped" && c.status.exitStatus !== null
      ? c.status.exitStatus
      : KILLED_STATUS;
    // The server closes after this reply is written (it waits for open connections).
    void this.closeServer().then(() => this.#done.resolve(status));
  }

  /** Runs the spec's host hooks of `stage` (poststart, poststop: failures are logged only). */
  async runHooks(stage: HookStage, status: OciState["status"]): Promise<void> {
    const pid = status === "stopped" ? 0 : this.#netns?.pid ?? Deno.pid;
    await runHooks(stage, this.#hooks, hookState(this.id, this.#bundle, pid, status), this.log);
  }

  async closeServer(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (s !== undefined) await s.close();
  }
}

/** The state document hooks read on stdin. Pure. */
function hookState(id: string, bundle: OciBundle, pid: number, status: OciState["status"]): OciState {
  return { ociVersion: "1.0.2", id, status, pid, bundle: bundle.dir, annotations: bundle.spec.annotations };
}

/** `linux.<key>` of a raw spec, if any. Pure. */
function linuxField(raw: Readonly<Record<string, unknown>>, key: string): unknown {
  const linux = raw["linux"];
  return typeof linux === "object" && linux !== null ? (linux as Record<string, unknown>)[key] : undefined;
}

/** `linux.namespaces` of a raw spec as `{ type, path }` pairs (path "" when none). Pure. */
function namespacesOf(raw: Readonly<Record<string, unknown>>): { type: string; path: string }[] {
  const ns = linuxField(raw, "namespaces");
  if (!Array.isArray(ns)) return [];
  return ns.filter((n: unknown): n is Record<string, unknown> => typeof n === "object" && n !== null)
    .map((n) => ({ type: String(n["type"] ?? ""), path: typeof n["path"] === "string" ? n["path"] : "" }));
}

/** True when the spec asks for a network namespace of its own (listed without a path). Pure. */
function wantsNewNetns(raw: Readonly<Record<string, unknown>>): boolean {
  return namespacesOf(raw).some((n) => n.type === "network" && n.path === "");
}

/**
 * A container in a VM of its own cannot join another process's namespace (ipc, uts, pid, mount,
 * user, cgroup) by path: those are host kernel objects. Refused clearly, as Kata does; the network
 * namespace is the exception (the VM is connected to it).
 */
function refuseHostNamespaces(raw: Readonly<Record<string, unknown>>, id: string): void {
  const joined = namespacesOf(raw).find((n) => n.type !== "network" && n.path !== "");
  if (joined === undefined) return;
  throw new RuntimeError(
    "Unimplemented",
    `Cannot create container "${id}": it asks to join the ${joined.type} namespace "${joined.path}", a host ` +
      `kernel object that a container in its own microVM cannot join; run it without sharing that namespace`,
  );
}
