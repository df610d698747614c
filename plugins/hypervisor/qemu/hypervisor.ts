/**
 * The QEMU `Hypervisor`: validates configuration, picks the accelerator and builds `QemuVm`s.
 *
 * @module
 */
import { HypervisorError } from "../../../runtime/errors.ts";
import type { Logger } from "../../../runtime/log/logger.ts";
import type {
  Accelerator,
  AgentAddress,
  HostCheck,
  Hypervisor,
  HypervisorCapabilities,
  Vm,
  VmConfig,
  VmState,
} from "../../types.ts";
import { agentCid } from "./args/agent.ts";
import { buildQemuArgs } from "./args/build.ts";
import { charDeviceFds, hotplugPortIds } from "./args/devices.ts";
import { needsSharedMemory } from "./args/machine.ts";
import { vmPaths } from "./args/types.ts";
import type { MachineType, QemuConfig } from "./config.ts";
import { type DetectProbe, hostProbe, resolveAccelerator } from "./detect.ts";
import { QemuVm, type QemuVmLayout } from "./qemu.ts";
import { launchArgv } from "./launch.ts";
import { confinementReport } from "./confinement_report.ts";
import { vmUserGrants } from "./vm_user_grants.ts";
import { listenSockets } from "./args/misc.ts";
import { isRecord } from "../../../runtime/sys/files.ts";

export interface QemuHypervisorOptions {
  readonly config: QemuConfig;
  readonly log: Logger;
  readonly probe?: DetectProbe;
}

/** The QEMU hypervisor driver. */
export function createQemuHypervisor(opts: QemuHypervisorOptions): Hypervisor & {
  /** Argv that `createVm(config)` runs after setsid (nsenter and sh wrappers, then QEMU), for tests. */
  commandLine(config: VmConfig, accel: Accelerator): string[];
} {
  const { config: qemu, log } = opts;
  const probe = opts.probe ?? hostProbe;
  const hvLog = log.child({ subsystem: "hypervisor", hypervisor: "qemu" });

  function layoutOf(config: VmConfig, accel: Accelerator): QemuVmLayout {
    const paths = vmPaths(config);
    const agent: AgentAddress = config.agentChannel === "vsock"
      ? { kind: "vsock", cid: agentCid({ vm: config }), port: qemu.agentVsockPort }
      : { kind: "unix", path: paths.agentSocket };
    return {
      id: config.id,
      stateDir: config.stateDir,
      paths,
      machineType: qemu.machineType,
      hotplugPorts: hotplugPortIds(qemu),
      sharedMemory: needsSharedMemory({ vm: config, qemu, accel, paths }),
      agent,
      accel,
      consoleLogMaxBytes: qemu.consoleLogMaxBytes,
      ...(config.netns !== undefined ? { netns: config.netns } : {}),
      ...(config.memoryTemplate !== undefined ? { memoryTemplate: config.memoryTemplate } : {}),
    };
  }
  let identity: Promise<string> | undefined;

  return {
    capabilities(): HypervisorCapabilities {
      const hotplug = qemu.machineType !== "microvm";
      return {
        blockHotplug: hotplug,
        netHotplug: hotplug,
        sharedFs: ["9p", "virtio-fs"],
        vsock: true,
        pause: true,
        template: qemu.machineType !== "microvm",
      };
    },

    async check(o = {}): Promise<void> {
      let out: Deno.CommandOutput;
      try {
        out = await new Deno.Command(qemu.path, {
          args: ["--version"],
          stdout: "piped",
          stderr: "piped",
          ...(o.signal ? { signal: o.signal } : {}),
        }).output();
      } catch (e) {
        throw new HypervisorError("FailedPrecondition", `Cannot use QEMU "${qemu.path}": it does not run`, {
          cause: e,
        });
      }
      const text = new TextDecoder().decode(out.stdout);
      const m = /version (\d+)\.(\d+)/.exec(text);
      if (!out.success || m === null) {
        throw new HypervisorError("FailedPrecondition", `Cannot use QEMU "${qemu.path}": "--version" failed`);
      }
      if (Number(m[1]) < 7) {
        throw new HypervisorError(
          "FailedPrecondition",
          `Cannot use QEMU "${qemu.path}": version ${m[1]}.${m[2]} is older than 7.0`,
        );
      }
      if (qemu.accelerator === "kvm") {
        const auto = await resolveAccelerator("auto", probe);
        if (auto.accel !== "kvm") {
          throw new HypervisorError("FailedPrecondition", `Cannot use accelerator "kvm": ${auto.reason}`);
        }
      }
    },

    async hostReport(o = {}): Promise<readonly HostCheck[]> {
      const out: HostCheck[] = [...await confinementReport(qemu)];
      try {
        await this.check(o);
        const ver = await new Deno.Command(qemu.path, {
          args: ["--version"],
          stdout: "piped",
          stderr: "null",
        })
          .output();
        const first = new TextDecoder().decode(ver.stdout).split("\n")[0] ?? "";
        out.push({ name: "hypervisor qemu", status: "ok", detail: `${first} (${qemu.path})` });
      } catch (e) {
        out.push({
          name: "hypervisor qemu",
          status: "fail",
          detail: e instanceof Error ? e.message : String(e),
          fix: "apt-get install qemu-system-x86, or set [hypervisor.qemu] path",
        });
      }
      const auto = await resolveAccelerator("auto", probe);
      const chosen = await resolveAccelerator(qemu.accelerator, probe);
      out.push({
        name: "kvm",
        status: auto.accel === "kvm" ? "ok" : "info",
        detail: auto.accel === "kvm"
          ? "usable for ordinary guests"
          : auto.pvm
          ? "present but PVM (/sys/module/kvm_pvm): ordinary guest kernels hang under it, so it is not used"
          : `not usable: ${auto.reason}`,
      });
      out.push({
        name: "accelerator",
        status: qemu.accelerator === "kvm" && auto.accel !== "kvm" ? "fail" : "ok",
        detail: `${chosen.accel === "tcg" ? "TCG (multi-threaded)" : "KVM"} will be used: ${chosen.reason}`,
      });
      return out;
    },

    async createVm(config: VmConfig): Promise<Vm> {
      const wanted = config.accelerator !== "auto" ? config.accelerator : qemu.accelerator;
      const choice = await resolveAccelerator(wanted, probe);
      const grants = vmUserGrants(config, qemu, choice.accel);
      const input = {
        vm: config,
        qemu,
        accel: choice.accel,
        paths: vmPaths(config),
        ...(grants !== undefined ? { ownUid: true } : {}),
      };
      const args = buildQemuArgs(input);
      hvLog.debug("vm created", {
        sandbox: config.id,
        accel: choice.accel,
        reason: choice.reason,
        vmUser: grants !== undefined,
      });
      return new QemuVm(layoutOf(config, choice.accel), hvLog, {
        binary: qemu.path,
        args,
        ...(config.netns !== undefined ? { netns: config.netns } : {}),
        fds: [...charDeviceFds(config.devices).values()],
        startTimeoutMs: qemu.startTimeoutMs,
        confined: qemu.confine,
        ...(grants !== undefined ? { vmUser: { ...grants, listen: listenSockets(input) } } : {}),
      });
    },

    async attachVm(state: VmState, o = {}): Promise<Vm> {
      const fail = (why: string): never => {
        throw new HypervisorError("InvalidArgument", `Cannot attach to VM "${state.id}": ${why}`);
      };
      if (state.hypervisor !== "qemu") fail(`its hypervisor is "${state.hypervisor}", not "qemu"`);
      if (!Number.isInteger(state.pid) || state.pid <= 0) fail(`invalid pid ${state.pid}`);
      const extra = isRecord(state.extra) ? state.extra : {};
      const consoleLog = extra["consoleLog"];
      if (typeof consoleLog !== "string") return fail("its state lacks the console log path");
      const mt = extra["machineType"];
      const machineType: MachineType = mt === "pc" || mt === "microvm" ? mt : "q35";
      const ports = extra["hotplugPorts"];
      const agent = state.agent;
      if (agent.kind === "unix" ? typeof agent.path !== "string" : !Number.isInteger(agent.cid)) {
        fail("invalid agent address");
      }
      const paths = vmPaths({ stateDir: state.stateDir, consoleLog });
      if (state.qmpSocket !== undefined && state.qmpSocket !== paths.qmpSocket) {
        fail(`unexpected QMP socket "${state.qmpSocket}"`);
      }
      // a VM handed over by the VM cache was started in another directory, then moved: its argv
      // names the QMP socket where it was created
      const launched = extra["launchedQmpSocket"];
      const vmUid = extra["vmUid"];
      const netns = extra["netns"];
      const layout: QemuVmLayout = {
        id: state.id,
        stateDir: state.stateDir,
        paths,
        machineType,
        hotplugPorts: Array.isArray(ports) ? ports.filter((p): p is string => typeof p === "string") : [],
        sharedMemory: extra["sharedMemory"] === true,
        agent,
        accel: typeof extra["accel"] === "string" ? extra["accel"] : "unknown",
        consoleLogMaxBytes: qemu.consoleLogMaxBytes,
        ...(typeof vmUid === "number" && Number.isInteger(vmUid) && vmUid > 0 ? { vmUid } : {}),
        ...(typeof netns === "string" ? { netns } : {}),
      };
      return await QemuVm.attach(layout, state.pid, hvLog, {
        ...o,
        ...(typeof launched === "string" ? { launchedQmpSocket: launched } : {}),
      });
    },

    identity(): Promise<string> {
      identity ??= (async () => {
        const out = await new Deno.Command(qemu.path, {
          args: ["--version"],
          stdout: "piped",
          stderr: "null",
        })
          .output().catch(() => undefined);
        const version = out === undefined
          ? "unknown"
          : new TextDecoder().decode(out.stdout).split("\n")[0] ?? "";
        return JSON.stringify({ binary: qemu.path, version, config: qemu });
      })();
      return identity;
    },

    commandLine(config: VmConfig, accel: Accelerator): string[] {
      const { program, args } = launchArgv({
        binary: qemu.path,
        args: buildQemuArgs({ vm: config, qemu, accel, paths: vmPaths(config) }),
        ...(config.netns !== undefined ? { netns: config.netns } : {}),
        fds: [...charDeviceFds(config.devices).values()],
      });
      return [program, ...args].slice(1);
    },
  };
}
