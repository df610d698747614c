/**
 * The daemon's tasks: every container of every pod, keyed by containerd namespace and container id
 * (two namespaces may use one id), with its init and exec processes as containerd sees them.
 * Operations map onto the sandbox core; exits are watched so Wait/State/Delete keep answering after
 * the process is gone, OOM kills become TaskOOM, and events go out in order.
 *
 * Every lookup takes the namespace of the request (containerd's ttRPC metadata); without one, an id
 * that exactly one namespace uses is found.
 *
 * @module
 */
import { cgroupsPathOf } from "../sys/host_cgroup.ts";
import { RuntimeError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { resolvePath } from "../oci/bundle.ts";
import { parseOciProcess, parseOciSpec, parseOciSpecText } from "../oci/spec.ts";
import type { TaskEvent } from "../protocol/events.ts";
import type { Sandbox } from "../sandbox/mod.ts";
import { groupOf } from "../shim/address.ts";
import { readBundleRegistration, writeRegistration } from "../shim/registration.ts";
import type { EventPublisher } from "./events.ts";
import type { Pods } from "./pods.ts";
import { Proc, type ProcExit, procKey, type Task, taskKey } from "./proc.ts";
import { mountRootfs, type RootfsMount, unmountRootfs } from "./rootfs.ts";
import { OomRelay } from "./oom.ts";
import { vmSpecDocument } from "./vm_spec.ts";
import { openBundleLog } from "./bundle_log.ts";
import { type LogDriver, startLogDriver } from "./log_driver.ts";
import type { HeldSandboxes } from "./held.ts";
import { adoptTasks } from "./task_adopt.ts";
import { StdioHolds, type StdioKeeper } from "./stdio_hold.ts";
import { checkStdio, type TaskStdio } from "./stdio.ts";
import { attachStdio, forgetExec, recordExec, type TaskIoContext, watchExit } from "./task_io.ts";

export interface CreateRequest extends TaskStdio {
  readonly id: string;
  /** containerd namespace of the request ("" or absent: the bundle's registration, else the fallback). */
  readonly namespace?: string;
  /** The pod's configuration file (containerd's runtime options). */
  readonly configPath?: string;
  readonly bundle: string;
  readonly rootfs: readonly RootfsMount[];
}

export class TaskManager {
  /** By `taskKey(namespace, id)`. */
  readonly #tasks = new Map<string, Task>();
  readonly #oom: OomRelay<Sandbox>;
  readonly #pods: Pods;
  readonly #events: EventPublisher;
  readonly #log: Logger;
  /** Namespace and events address for bundles that have no registration file. */
  readonly #fallback: { namespace: string; ttrpcAddress: string };
  /** The stdio FIFOs the supervisor holds open across a daemon restart. */
  readonly holds: StdioHolds;
  readonly #io: TaskIoContext;

  constructor(
    pods: Pods,
    events: EventPublisher,
    log: Logger,
    fallback = { namespace: "", ttrpcAddress: "" },
    keeper?: StdioKeeper,
  ) {
    this.holds = new StdioHolds(keeper, log);
    this.#io = { log, holds: this.holds, publish: (t, e) => this.#publish(t, e) };
    this.#pods = pods;
    this.#events = events;
    this.#log = log;
    this.#fallback = fallback;
    this.#oom = new OomRelay(log, (sb, containerId) => {
      for (const t of this.#tasks.values()) {
        if (t.sandbox !== sb || t.coreId !== containerId) continue;
        t.bundleLog.log.warn("container OOM kill");
        this.#publish(t, { kind: "oom", containerId });
      }
    });
  }

  get size(): number {
    return this.#tasks.size;
  }

  /** Container ids and namespaces of the tasks in the sandbox of core id `sandboxId`. */
  inSandbox(sandboxId: string): { id: string; namespace: string }[] {
    return [...this.#tasks.values()].filter((t) => t.sandbox.id === sandboxId)
      .map((t) => ({ id: t.id, namespace: t.namespace }));
  }

  /** @throws {RuntimeError} NotFound; FailedPrecondition when `ns` is absent and several namespaces use `id` */
  task(id: string, ns?: string): Task {
    const t = this.find(id, ns);
    if (t === undefined) throw new RuntimeError("NotFound", `Cannot find container "${id}": not found`);
    return t;
  }

  find(id: string, ns?: string): Task | undefined {
    if (ns !== undefined && ns !== "") return this.#tasks.get(taskKey(ns, id));
    const all = [...this.#tasks.values()].filter((t) => t.id === id);
    if (all.length > 1) {
      throw new RuntimeError(
        "FailedPrecondition",
        `Cannot find container "${id}": namespaces ${all.map((t) => `"${t.namespace}"`).join(", ")} use it`,
      );
    }
    return all[0];
  }

  proc(id: string, execId: string, ns?: string): Proc {
    const t = this.task(id, ns);
    if (execId === "") return t.init;
    const p = t.execs.get(execId);
    if (p === undefined) {
      throw new RuntimeError("NotFound", `Cannot find process "${execId}" of container "${id}": not found`);
    }
    return p;
  }

  #publish(t: Task, event: TaskEvent): void {
    void this.#events.publish(t.ttrpcAddress, t.namespace, event);
  }

  /** Creates the container (its pod's VM first when it is the pod's first). Returns the init pid. */
  async create(req: CreateRequest): Promise<number> {
    const reg = await readBundleRegistration(req.bundle);
    const namespace = req.namespace || reg?.namespace || this.#fallback.namespace;
    const key = taskKey(namespace, req.id);
    if (this.#tasks.has(key)) {
      throw new RuntimeError("AlreadyExists", `Cannot create container "${req.id}": it already exists`);
    }
    checkStdio(req, `container "${req.id}"`);
    const file = `${req.bundle}/config.json`;
    const spec = parseOciSpec(
      vmSpecDocument(parseOciSpecText(await Deno.readTextFile(file), file).raw),
      file,
    );
    const group = reg?.group ?? groupOf(req.id, spec.annotations);
    const coreId = [...this.#tasks.values()].some((t) => t.id === req.id) ? `${req.id}+${namespace}` : req.id;
    const mounted = req.rootfs.length > 0;
    const rootfs = mounted ? `${req.bundle}/rootfs` : resolvePath(req.bundle, spec.root.path);
    if (mounted) await mountRootfs(req.rootfs, rootfs);
    let joined = false;
    let logDriver: LogDriver | undefined;
    try {
      if (req.stdout.startsWith("binary://")) {
        logDriver = await startLogDriver(req.stdout, {
          dir: `${req.bundle}/.cocoon-log`,
          containerId: req.id,
          namespace,
          log: this.#log,
        });
      }
      if (reg !== null) {
        // For the `delete` binary, which cleans up with the pod's own configuration and core id,
        // and for a restarted daemon, which adopts the task with its stdio.
        const { stdin, stdout, stderr, terminal } = req;
        await writeRegistration(req.bundle, {
          ...reg,
          id: req.id, // a registration borrowed from the pod names the pod
          ...(req.configPath !== undefined ? { configPath: req.configPath } : {}),
          ...(coreId !== req.id ? { coreId } : {}),
          task: { stdio: { stdin, stdout, stderr, terminal }, rootfsMounted: mounted },
        });
      }
      const cgroups = cgroupsPathOf(spec.raw);
      const sandbox = await this.#pods.join(group, coreId, {
        namespace,
        ...(req.configPath !== undefined ? { configPath: req.configPath } : {}),
        annotations: spec.annotations,
        netns: spec.netns,
        hostname: spec.hostname,
        ...(cgroups !== undefined ? { cgroupsPath: cgroups } : {}),
      });
      joined = true;
      const rec = await sandbox.act({
        kind: "create-container",
        opts: {
          id: coreId,
          spec,
          rootfs,
          bundle: req.bundle,
          stdin: req.stdin !== "",
        },
      });
      const init = new Proc(req.id, "", req);
      init.pid = rec.status.kind === "created" ? rec.status.pid : 0;
      const t: Task = {
        id: req.id,
        coreId,
        namespace,
        bundle: req.bundle,
        group,
        ttrpcAddress: reg?.ttrpcAddress ?? this.#fallback.ttrpcAddress,
        sandbox,
        rootfsMounted: mounted,
        init,
        execs: new Map(),
        io: new Map(),
        bundleLog: openBundleLog(req.bundle, { container: req.id, sandbox: sandbox.id }),
        logDriver,
      };
      t.bundleLog.log.info("task created", { pid: init.pid, vmPids: sandbox.pids() });
      this.#tasks.set(key, t);
      this.#oom.watch(sandbox);
      attachStdio(this.#io, t, init);
      this.#publish(t, {
        kind: "create",
        containerId: req.id,
        bundle: req.bundle,
        rootfs: req.rootfs.map((m) => ({ type: m.type, source: m.source, options: [...m.options] })),
        io: { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal },
        pid: init.pid,
      });
      return init.pid;
    } catch (e) {
      await logDriver?.close();
      if (joined) await this.#pods.leave(group, coreId, namespace);
      if (mounted) await unmountRootfs(rootfs);
      throw e;
    }
  }

  /**
   * Takes over the tasks of the pods a previous daemon held (a restart under the supervisor): the
   * pod joins Pods, each init's stdio is wired again and its exit watched, so that containerd's
   * calls, carried over by the supervisor, find them; running execs too.
   */
  async adoptHeld(held: HeldSandboxes): Promise<void> {
    for (const t of await adoptTasks(held, this.#pods, this.#io)) {
      this.#tasks.set(taskKey(t.namespace, t.id), t);
      this.#oom.watch(t.sandbox);
    }
  }

  /** Starts the init or an exec; the start event goes out before any exit event. */
  async start(id: string, execId: string, ns?: string): Promise<number> {
    const t = this.task(id, ns);
    const p = this.proc(id, execId, t.namespace);
    if (p.state.kind !== "created") {
      throw new RuntimeError("FailedPrecondition", `Cannot start ${p.label}: it is ${p.state.kind}`);
    }
    if (execId === "") {
      const rec = await t.sandbox.act({ kind: "start-container", containerId: t.coreId });
      p.setRunning(rec.status.kind === "running" ? rec.status.pid : p.pid);
      this.#publish(t, { kind: "start", containerId: id, pid: p.pid });
      t.bundleLog.log.info("task started", { pid: p.pid });
      void watchExit(this.#io, t, p, () => t.sandbox.wait(t.coreId));
    } else {
      const process = parseOciProcess(p.spec, `exec "${execId}" of "${id}"`);
      const rec = await t.sandbox.act({
        kind: "exec",
        containerId: t.coreId,
        opts: { execId, process, stdin: p.stdio.stdin !== "" },
      });
      p.setRunning(rec.status.kind === "running" ? rec.status.pid : 0);
      // for a restarted daemon, which takes the running exec over with its stdio
      await recordExec(t, p).catch((e) => this.#log.warn("exec not recorded", { exec: execId, error: e }));
      attachStdio(this.#io, t, p);
      this.#publish(t, { kind: "exec-started", containerId: id, execId, pid: p.pid });
      void watchExit(this.#io, t, p, () => t.sandbox.waitExec(t.coreId, execId));
    }
    return p.pid;
  }

  /** Registers an exec (it runs on Start). */
  exec(id: string, execId: string, stdio: TaskStdio, spec: unknown, ns?: string): void {
    const t = this.task(id, ns);
    if (t.execs.has(execId)) {
      throw new RuntimeError(
        "AlreadyExists",
        `Cannot exec "${execId}" in container "${id}": id already exists`,
      );
    }
    if (t.init.state.kind === "stopped") {
      throw new RuntimeError("FailedPrecondition", `Cannot exec in container "${id}": it is stopped`);
    }
    checkStdio(stdio, `process "${execId}"`);
    parseOciProcess(spec, `exec "${execId}" of "${id}"`);
    t.execs.set(execId, new Proc(id, execId, stdio, spec));
    this.#publish(t, { kind: "exec-added", containerId: id, execId });
  }

  async kill(id: string, execId: string, signal: number, all: boolean, ns?: string): Promise<void> {
    const t = this.task(id, ns);
    const p = this.proc(id, execId, t.namespace);
    p.assertAlive();
    if (execId !== "" && p.state.kind === "created") {
      throw new RuntimeError("FailedPrecondition", `Cannot signal ${p.label}: it is not started`);
    }
    await t.sandbox.act({
      kind: "kill",
      containerId: t.coreId,
      signal,
      opts: { all, ...(execId !== "" ? { execId } : {}) },
    });
    // A created init has no exit watcher yet: a signal that ends it must still reach Wait.
    if (execId === "" && p.state.kind === "created") {
      void watchExit(this.#io, t, p, () => t.sandbox.wait(t.coreId));
    }
  }

  async closeStdin(id: string, execId: string, ns?: string): Promise<void> {
    const t = this.task(id, ns);
    const io = t.io.get(this.proc(id, execId, t.namespace));
    const stdin = io?.stdin;
    if (stdin === undefined) return;
    const done = await Promise.race([
      stdin.done.then(() => true),
      new Promise((r) => setTimeout(() => r(false), 1000)),
    ]);
    if (!done) await stdin.abandon();
  }

  async resize(id: string, execId: string, width: number, height: number, ns?: string): Promise<void> {
    const t = this.task(id, ns);
    const p = this.proc(id, execId, t.namespace);
    if (width === 0 || height === 0 || !p.stdio.terminal || p.state.kind === "stopped") return;
    await t.sandbox.io(t.coreId, execId === "" ? {} : { exec: execId }).resize({
      columns: width,
      rows: height,
    });
  }

  async pause(id: string, ns?: string): Promise<void> {
    const t = this.task(id, ns);
    await t.sandbox.act({ kind: "pause-container", containerId: t.coreId });
    t.init.setPaused(true);
    this.#publish(t, { kind: "paused", containerId: id });
  }

  async resume(id: string, ns?: string): Promise<void> {
    const t = this.task(id, ns);
    await t.sandbox.act({ kind: "resume-container", containerId: t.coreId });
    t.init.setPaused(false);
    this.#publish(t, { kind: "resumed", containerId: id });
  }

  /**
   * Deletes an exited (or never started) init with its container, or an exec's record. The pod's
   * last container takes the VM with it.
   */
  async delete(id: string, execId: string, ns?: string): Promise<{ pid: number; exit: ProcExit }> {
    const t = this.task(id, ns);
    const p = this.proc(id, execId, t.namespace);
    if (p.state.kind === "running" || p.state.kind === "paused") {
      throw new RuntimeError("FailedPrecondition", `Cannot delete ${p.label}: it is ${p.state.kind}`);
    }
    const exit = p.exit() ?? { exitStatus: 0, exitedAt: new Date() };
    if (execId !== "") {
      await t.io.get(p)?.stdin?.abandon();
      t.io.delete(p);
      this.holds.release(procKey(t, p));
      t.execs.delete(execId);
      await forgetExec(t, execId);
      return { pid: p.pid, exit };
    }
    await this.#remove(t);
    this.#publish(t, {
      kind: "delete",
      containerId: id,
      id: "",
      pid: p.pid,
      exitStatus: exit.exitStatus,
      exitedAt: exit.exitedAt,
    });
    return { pid: p.pid, exit };
  }

  /** Kills whatever is left of the container and deletes it (the `delete` binary's path). */
  async forceDelete(id: string, ns?: string): Promise<{ pid: number; exit: ProcExit }> {
    const t = this.find(id, ns);
    if (t === undefined) return { pid: 0, exit: { exitStatus: 137, exitedAt: new Date() } };
    if (t.init.state.kind !== "stopped") {
      await t.sandbox.act({ kind: "kill", containerId: t.coreId, signal: 9, opts: { all: true } }).catch(
        () => {},
      );
      // A created init has no exit watcher yet.
      if (t.init.state.kind === "created") {
        void watchExit(this.#io, t, t.init, () => t.sandbox.wait(t.coreId));
      }
      await Promise.race([t.init.exited, new Promise((r) => setTimeout(r, 5000))]);
      t.init.setExited({ exitStatus: 137, exitedAt: new Date() });
    }
    for (const p of t.execs.values()) p.setExited({ exitStatus: 137, exitedAt: new Date() });
    return await this.delete(id, "", t.namespace);
  }

  async #remove(t: Task): Promise<void> {
    for (const [p, io] of t.io) {
      await io.stdin?.abandon();
      this.holds.release(procKey(t, p));
    }
    t.io.clear();
    try {
      await t.sandbox.act({ kind: "delete-container", containerId: t.coreId, opts: { force: true } });
    } catch (e) {
      if (!(e instanceof RuntimeError && e.code === "NotFound")) {
        this.#log.warn("container delete failed", { container: t.id, error: e });
      }
    }
    if (t.rootfsMounted) await unmountRootfs(`${t.bundle}/rootfs`);
    await t.logDriver?.close();
    t.bundleLog.log.info("task deleted");
    t.bundleLog.close();
    this.#tasks.delete(taskKey(t.namespace, t.id));
    if (![...this.#tasks.values()].some((o) => o.sandbox === t.sandbox)) this.#oom.unwatch(t.sandbox);
    await this.#pods.leave(t.group, t.coreId, t.namespace);
  }

  /** Stops the OOM watchers (daemon close). */
  close(): void {
    this.#oom.close();
  }
}
