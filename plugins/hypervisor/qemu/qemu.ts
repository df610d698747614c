/**
 * `QemuVm`: one QEMU process per sandbox. QEMU is started in its own session (`setsid`), so it
 * outlives the process that started it, and is driven over QMP; another process re-attaches with
 * {@link QemuVm.attach} from {@link VmState}.
 *
 * @module
 */
export { CONSOLE_LOG_MAX, type QemuLaunch, type QemuVmLayout } from "./vm_layout.ts";
import { HypervisorError, toRuntimeError } from "../../../runtime/errors.ts";
import type { Logger } from "../../../runtime/log/logger.ts";
import type { SandboxId } from "../../../runtime/ids.ts";
import type { AgentAddress, AttachedDevice, Device, Vm, VmExit, VmState } from "../../types.ts";
import { hotplugDevice, type HotplugTarget, unplugDevice } from "./hotplug.ts";
import { QmpClient, type QmpEvent } from "./qmp.ts";
import { pidAlive, readCmdline, readPidFile, removeFiles, signalPid, tail, waitPidGone } from "./_process.ts";
import { launchArgv } from "./launch.ts";
import { collect } from "./_process.ts";
import { CONSOLE_LOG_MAX, type QemuLaunch, type QemuVmLayout } from "./vm_layout.ts";
import { ConsoleCap } from "./console_cap.ts";
import { type Confinement, filterPath, prepareConfinement } from "../../../runtime/sys/seccomp/confine.ts";
import { restoreCloneState, saveTemplateState } from "./template.ts";
import type { Jail } from "../../../runtime/sys/seccomp/loader.ts";
import { claimVmUser, releaseVmUser } from "../../../runtime/sys/vm_user.ts";
import { grantVmUser, jailRoot } from "./vm_user_setup.ts";
import { fdPassSocket, vmDirMarker } from "./args/misc.ts";
import { handTap, passFile } from "./fd_pass.ts";

type Phase = "created" | "starting" | "running" | "paused" | "stopped";

export class QemuVm implements Vm {
  readonly id: SandboxId;
  readonly #layout: QemuVmLayout;
  readonly #launch: QemuLaunch | undefined;
  readonly #log: Logger;
  #phase: Phase = "created";
  #pid = 0;
  #qmp: QmpClient | undefined;
  #child: Deno.ChildProcess | undefined;
  #childStatus: Promise<Deno.CommandStatus> | undefined;
  #shutdownReason: string | undefined;
  #killedBy: string | undefined;
  #exit: Promise<VmExit> | undefined;
  #stopping: Promise<void> | undefined;
  #consoleCap: ConsoleCap | undefined;
  #vmUid: number | undefined;

  constructor(layout: QemuVmLayout, log: Logger, launch?: QemuLaunch) {
    this.id = layout.id;
    this.#layout = layout;
    this.#vmUid = layout.vmUid;
    this.#launch = launch;
    this.#log = log.child({ sandbox: layout.id });
  }

  /** Re-attaches to a running QEMU: the pid must be alive and its argv must name this VM's QMP socket. */
  static async attach(
    layout: QemuVmLayout,
    pid: number,
    log: Logger,
    opts: { signal?: AbortSignal; launchedQmpSocket?: string } = {},
  ): Promise<QemuVm> {
    const argv = await readCmdline(pid);
    if (argv === undefined || !(await pidAlive(pid))) {
      throw new HypervisorError("NotFound", `Cannot attach to VM "${layout.id}": process ${pid} is gone`);
    }
    const named = opts.launchedQmpSocket ?? layout.paths.qmpSocket;
    // a QEMU with a uid of its own inherits its sockets: its argv names its state directory instead
    if (!argv.includes(named) && !argv.includes(vmDirMarker(named.replace(/\/[^/]*$/, "")))) {
      // Its QEMU exited and the pid went to another program: the VM is gone all the same.
      throw new HypervisorError(
        "NotFound",
        `Cannot attach to VM "${layout.id}": process ${pid} is gone (the pid now runs a program whose argv does not name "${named}")`,
      );
    }
    const vm = new QemuVm(layout, log);
    vm.#pid = pid;
    const qmp = await QmpClient.connect(layout.paths.qmpSocket, {
      timeoutMs: 10_000,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    vm.#adopt(qmp);
    const status = await qmp.execute("query-status");
    vm.#phase =
      typeof status === "object" && status !== null && "running" in status && status.running === false
        ? "paused"
        : "running";
    vm.#log.info("vm attached", { pid });
    return vm;
  }

  async start(opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#phase !== "created" || this.#launch === undefined) {
      throw new HypervisorError(
        "FailedPrecondition",
        `Cannot start VM "${this.id}": it is ${this.#phase === "created" ? "attached" : this.#phase}`,
      );
    }
    const launch = this.#launch;
    const { paths } = this.#layout;
    this.#phase = "starting";
    const t0 = performance.now();
    await Deno.mkdir(this.#layout.stateDir, { recursive: true });
    await removeFiles([paths.qmpSocket, paths.agentSocket, paths.pidFile]);
    let child: Deno.ChildProcess;
    let confine: Confinement | undefined;
    let jail: Jail | undefined;
    try {
      if (launch.confined === true) {
        confine = await prepareConfinement(this.#layout.stateDir, "hypervisor.qemu.insecure_unconfined");
      }
      if (launch.vmUser !== undefined) {
        this.#vmUid = await claimVmUser(this.#layout.stateDir);
        jail = await grantVmUser(this.#vmUid, this.#layout.stateDir, paths.consoleLog, launch.vmUser);
      }
    } catch (e) {
      this.#phase = "stopped";
      await this.#cleanup();
      throw e;
    }
    try {
      // setsid puts QEMU in its own session (it is not a group leader here, so it execs in place);
      // nsenter, sh and perl (netns, macvtap fds, confinement) exec in place too, so the child's
      // pid is QEMU's.
      const { program, args } = launchArgv({
        ...launch,
        ...(confine ? { confine } : {}),
        ...(jail ? { jail } : {}),
      });
      child = new Deno.Command(program, {
        args,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
    } catch (e) {
      this.#phase = "stopped";
      throw new HypervisorError(
        "Unavailable",
        `Cannot start VM "${this.id}": cannot run "${launch.binary}"`,
        { cause: e },
      );
    }
    this.#child = child;
    this.#childStatus = child.status;
    const stderr = collect(child.stderr);
    const exited = child.status.then((s) => ({ kind: "exited" as const, status: s }));
    try {
      const connect = QmpClient.connect(paths.qmpSocket, {
        timeoutMs: launch.startTimeoutMs,
        ...(opts.signal ? { signal: opts.signal } : {}),
      }).then((qmp) => ({ kind: "qmp" as const, qmp }));
      connect.catch(() => {}); // raced below
      const first = await Promise.race([connect, exited]);
      if (first.kind === "exited") {
        connect.then((r) => r.qmp.close(), () => {});
        throw new HypervisorError("Internal", "qemu exited during start"); // replaced by its exit code below
      }
      this.#pid = (await readPidFile(paths.pidFile)) ?? child.pid;
      this.#adopt(first.qmp);
      const qmpMs = performance.now() - t0;
      // answered only once QEMU's main loop runs, i.e. after the machine (kernel, devices) is set up
      await first.qmp.execute("query-status");
      const tmpl = this.#layout.memoryTemplate;
      let restoreMs: number | undefined;
      if (tmpl?.kind === "clone") {
        const r0 = performance.now();
        await restoreCloneState({
          vmId: this.id,
          qmp: first.qmp,
          socketPath: migrationSocket(this.#layout.stateDir),
          stateFile: tmpl.stateFile,
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        restoreMs = Math.round(performance.now() - r0);
      }
      this.#phase = "running";
      this.#log.info("vm started", {
        pid: this.#pid,
        accel: this.#layout.accel,
        qmpReadyMs: Math.round(qmpMs),
        ...(restoreMs !== undefined ? { restoredFrom: tmpl?.memoryFile, restoreMs } : {}),
      });
    } catch (e) {
      // QEMU may have exited on its own (bad config): prefer its exit code over the QMP symptom
      const settled = await Promise.race([
        exited,
        new Promise<undefined>((r) => setTimeout(r, 500, undefined)),
      ]);
      if (settled === undefined) {
        await signalPid(child.pid, "SIGKILL");
        await child.status.catch(() => {});
      }
      this.#phase = "stopped";
      this.#qmp?.close();
      await this.#cleanup();
      const why = settled !== undefined
        ? `qemu exited with code ${settled.status.code}`
        : e instanceof Error
        ? e.message
        : String(e);
      throw await this.#startFailure(why, await stderr.done, settled === undefined ? e : undefined);
    } finally {
      stderr.stop();
      child.unref();
    }
  }

  async #startFailure(why: string, stderr: string, cause?: unknown): Promise<HypervisorError> {
    const err = stderr.trim().split("\n").slice(-3).join(" | ");
    const consoleTail = (await tail(this.#layout.paths.consoleLog, 1024)).trim().split("\n").slice(-5).join(
      " | ",
    );
    const detail = [err && `stderr: ${err}`, consoleTail && `console: ${consoleTail}`].filter((s) => s).join(
      "; ",
    );
    const code = cause === undefined ? "Internal" : toRuntimeError(cause).code;
    return new HypervisorError(code, `Cannot start VM "${this.id}": ${why}${detail ? `: ${detail}` : ""}`, {
      cause,
    });
  }

  #adopt(qmp: QmpClient): void {
    this.#qmp = qmp;
    qmp.onEvent((e: QmpEvent) => {
      if (e.event === "SHUTDOWN") {
        this.#shutdownReason = typeof e.data["reason"] === "string" ? e.data["reason"] : "unknown";
      }
      if (e.event === "STOP" && this.#phase === "running") this.#phase = "paused";
      if (e.event === "RESUME" && this.#phase === "paused") this.#phase = "running";
      this.#log.debug("qmp event", { event: e.event });
    });
    this.#consoleCap = new ConsoleCap(
      this.#layout.paths.consoleLog,
      this.#layout.consoleLogMaxBytes ?? CONSOLE_LOG_MAX,
    );
    this.#consoleCap.start();
    this.#exit = this.#watchExit();
  }

  async #watchExit(): Promise<VmExit> {
    let status: Deno.CommandStatus | undefined;
    if (this.#childStatus) {
      status = await this.#childStatus;
    } else {
      while (await pidAlive(this.#pid)) {
        // QMP closing is the prompt signal; the poll covers a QMP connection that was never made
        await Promise.race([this.#qmp?.closed, new Promise((r) => setTimeout(r, 1000))]);
        if (this.#qmp?.isClosed) await new Promise((r) => setTimeout(r, 50));
      }
    }
    this.#phase = "stopped";
    this.#qmp?.close();
    this.#consoleCap?.stop();
    const exit = this.#exitOf(status);
    this.#log.info("vm exited", { pid: this.#pid, exit });
    return exit;
  }

  #exitOf(status: Deno.CommandStatus | undefined): VmExit {
    if (status?.signal) return { kind: "killed", signal: status.signal };
    if (this.#killedBy !== undefined) return { kind: "killed", signal: this.#killedBy };
    const reason = this.#shutdownReason;
    if (status !== undefined && status.code !== 0) {
      return { kind: "crashed", code: status.code, reason: reason ?? "qemu exited with an error" };
    }
    if (reason === "guest-shutdown") return { kind: "shutdown" };
    if (reason === "guest-reset" || reason === "guest-panic") {
      return { kind: "crashed", code: status?.code ?? 0, reason };
    }
    if (reason !== undefined) return { kind: "killed" }; // host-qmp-quit, host-signal...
    return { kind: "unknown" };
  }

  #requireQmp(op: string): QmpClient {
    if (this.#qmp === undefined || this.#qmp.isClosed || this.#phase === "stopped") {
      throw new HypervisorError("FailedPrecondition", `Cannot ${op} VM "${this.id}": it is not running`);
    }
    return this.#qmp;
  }

  stop(opts: { force?: boolean; timeoutMs?: number } = {}): Promise<void> {
    this.#stopping ??= this.#stop(opts).finally(() => (this.#stopping = undefined));
    return this.#stopping;
  }

  async #stop(opts: { force?: boolean; timeoutMs?: number }): Promise<void> {
    const pid = this.#pid;
    if (pid > 0 && (await pidAlive(pid))) {
      const qmp = this.#qmp;
      if (opts.force !== true && qmp && !qmp.isClosed) {
        try {
          if (this.#phase === "paused") await qmp.execute("cont", undefined, { timeoutMs: 2000 });
          await qmp.execute("system_powerdown", undefined, { timeoutMs: 2000 });
        } catch (e) {
          this.#log.warn("graceful power-off failed", { error: e });
        }
        await waitPidGone(pid, opts.timeoutMs ?? 10_000);
      }
      if (await pidAlive(pid)) {
        if (qmp && !qmp.isClosed) await qmp.execute("quit", undefined, { timeoutMs: 2000 }).catch(() => {});
        if (!(await waitPidGone(pid, 2000))) {
          this.#killedBy = "SIGKILL";
          await signalPid(pid, "SIGKILL");
          if (!(await waitPidGone(pid, 5000))) {
            throw new HypervisorError(
              "Internal",
              `Cannot stop VM "${this.id}": process ${pid} survived SIGKILL`,
            );
          }
        }
      }
      this.#log.info("vm stopped", { pid, forced: opts.force === true });
    }
    if (this.#exit) await Promise.race([this.#exit, new Promise((r) => setTimeout(r, 5000))]);
    this.#phase = "stopped";
    this.#qmp?.close();
    await this.#cleanup();
  }

  async #cleanup(): Promise<void> {
    this.#consoleCap?.stop();
    const { paths } = this.#layout;
    await removeFiles([
      paths.qmpSocket,
      paths.agentSocket,
      paths.pidFile,
      filterPath(this.#layout.stateDir),
      fdPassSocket(this.#layout.stateDir),
      jailRoot(this.#layout.stateDir),
    ]);
    if (this.#vmUid !== undefined) await releaseVmUser(this.#vmUid);
  }

  async pause(): Promise<void> {
    await this.#requireQmp("pause").execute("stop");
    this.#phase = "paused";
  }

  async resume(): Promise<void> {
    await this.#requireQmp("resume").execute("cont");
    this.#phase = "running";
  }

  wait(): Promise<VmExit> {
    if (this.#exit === undefined) {
      return Promise.reject(
        new HypervisorError("FailedPrecondition", `Cannot wait for VM "${this.id}": it was never started`),
      );
    }
    return this.#exit;
  }

  #target(op: string): HotplugTarget {
    return {
      vmId: this.id,
      qmp: this.#requireQmp(op),
      machineType: this.#layout.machineType,
      ports: this.#layout.hotplugPorts,
      sharedMemory: this.#layout.sharedMemory,
      unplugTimeoutMs: 15_000,
      ...(this.#vmUid !== undefined
        ? {
          passFile: (path: string, readOnly: boolean, opaque: string) =>
            passFile(this.#layout.stateDir, path, readOnly, opaque),
          handTap: (tap: string) => handTap(tap, this.#vmUid ?? 0, this.#layout.netns),
        }
        : {}),
    };
  }

  async addDevice(device: Device): Promise<AttachedDevice> {
    const att = await hotplugDevice(this.#target("add a device to"), device);
    this.#log.info("device added", { device: device.id, kind: device.kind, guestAddress: att.guestAddress });
    return att;
  }

  async removeDevice(device: AttachedDevice): Promise<void> {
    await unplugDevice(this.#target("remove a device from"), device);
    this.#log.info("device removed", { device: device.device.id, kind: device.device.kind });
  }

  agentAddress(): AgentAddress {
    return this.#layout.agent;
  }

  pids(): readonly number[] {
    return this.#pid > 0 && this.#phase !== "stopped" ? [this.#pid] : [];
  }

  async saveTemplate(stateFile: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#layout.memoryTemplate?.kind !== "template") {
      throw new HypervisorError(
        "FailedPrecondition",
        `Cannot save VM "${this.id}" as a template: it was not started as one (no shared memory file)`,
      );
    }
    const t0 = performance.now();
    const bytes = await saveTemplateState({
      vmId: this.id,
      qmp: this.#requireQmp("save"),
      socketPath: migrationSocket(this.#layout.stateDir),
      stateFile,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    this.#phase = "paused";
    this.#log.info("vm saved as template", { stateFile, bytes, ms: Math.round(performance.now() - t0) });
  }

  /** Drops this process's QMP connection and leaves the VM running (another process attaches). */
  detach(): void {
    this.#qmp?.close();
  }

  /** The QMP client, for callers that need commands this interface lacks (templates, migration). */
  get qmp(): QmpClient | undefined {
    return this.#qmp;
  }

  saveState(): VmState {
    const l = this.#layout;
    return {
      id: this.id,
      hypervisor: "qemu",
      pid: this.#pid,
      stateDir: l.stateDir,
      qmpSocket: l.paths.qmpSocket,
      agent: l.agent,
      extra: {
        consoleLog: l.paths.consoleLog,
        machineType: l.machineType,
        hotplugPorts: [...l.hotplugPorts],
        sharedMemory: l.sharedMemory,
        accel: l.accel,
        ...(this.#vmUid !== undefined ? { vmUid: this.#vmUid } : {}),
        ...(l.netns !== undefined ? { netns: l.netns } : {}),
      },
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop({ force: true });
  }
}

/** The unix socket a template's or clone's migration stream goes through. */
function migrationSocket(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, "")}/migrate.sock`;
}
