/**
 * The `vfio` network model: each physical interface (an SR-IOV VF, typically) that the CNI moved
 * into the pod's netns, plus any PCI address listed in `[network.vfio] devices`, is unbound from its
 * host driver, bound to vfio-pci and handed to the VM as a `vfio` device; the guest drives it with
 * its own driver and the agent gives it the netns interface's MAC, addresses and routes.
 *
 * Binding (sysfs, per device `<bdf>` such as 0000:3b:02.1):
 * ```
 * echo vfio-pci > /sys/bus/pci/devices/<bdf>/driver_override
 * echo <bdf>    > /sys/bus/pci/devices/<bdf>/driver/unbind     (when a driver is bound)
 * echo <bdf>    > /sys/bus/pci/drivers_probe
 * ```
 * then every device of its IOMMU group must be on vfio-pci or on no driver. Detach reverses it:
 * unbind from vfio-pci, clear driver_override, probe again so the host driver takes the device back;
 * its netdev then reappears in the host's initial netns (a kernel rule), not in the pod netns.
 *
 * Hosts without an IOMMU (no /sys/kernel/iommu_groups entries) or without the vfio-pci driver are
 * refused by `check()` and by `attach` with `FailedPrecondition` and the reason.
 *
 * @module
 */
import type { Device, NetworkAttachment, NetworkBackend } from "../../types.ts";
import type { Logger } from "../../../runtime/log/logger.ts";
import { deviceId, type SandboxId } from "../../../runtime/ids.ts";
import { RuntimeError, toRuntimeError } from "../../../runtime/errors.ts";
import { type NetSys, runInNetns } from "../../../runtime/sys/ip_command.ts";
import { inspectNetns } from "../../../runtime/sys/ip_inspect.ts";
import { type EndpointInfo, selectEndpoints } from "../../../runtime/sys/ip_endpoints.ts";
import { baseName, type VfioSysfs } from "./sysfs.ts";

const BDF_RE = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
const PCI = "/sys/bus/pci";
const DEVICE_SCRIPT = 'mount -t sysfs sysfs /sys && readlink -f /sys/class/net/"$1"/device';

/** Validates a PCI address in domain:bus:slot.function form. */
export function pciAddress(s: string): string {
  const b = s.toLowerCase();
  if (!BDF_RE.test(b)) {
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid PCI address "${s.slice(0, 40)}": expected the form 0000:3b:02.1`,
    );
  }
  return b;
}

export interface VfioEndpoint extends EndpointInfo {
  readonly bdf: string;
}

export interface VfioAttachment extends NetworkAttachment {
  readonly endpoints: readonly VfioEndpoint[];
}

export interface VfioOptions {
  /** PCI addresses passed through in addition to the netns's physical interfaces. */
  readonly devices?: readonly string[];
}

export class VfioNetwork implements NetworkBackend {
  readonly #sys: NetSys;
  readonly #fs: VfioSysfs;
  readonly #log: Logger;
  readonly #extra: readonly string[];

  constructor(sys: NetSys, fs: VfioSysfs, log: Logger, opts: VfioOptions = {}) {
    this.#sys = sys;
    this.#fs = fs;
    this.#log = log;
    this.#extra = (opts.devices ?? []).map(pciAddress);
  }

  /** Throws `FailedPrecondition` with the reason when this host cannot pass devices through. */
  async check(): Promise<void> {
    const why = 'Cannot use network model "vfio"';
    if ((await this.#fs.list("/sys/kernel/iommu_groups")).length === 0) {
      throw new RuntimeError(
        "FailedPrecondition",
        `${why}: the host has no IOMMU groups (/sys/kernel/iommu_groups is empty): enable VT-d/AMD-Vi and boot with intel_iommu=on or amd_iommu=on`,
      );
    }
    if (!(await this.#fs.exists(`${PCI}/drivers/vfio-pci`))) {
      throw new RuntimeError(
        "FailedPrecondition",
        `${why}: the vfio-pci driver is not loaded (${PCI}/drivers/vfio-pci is missing): load the vfio-pci module`,
      );
    }
  }

  async attach(netns: string, opts: { sandbox: SandboxId; signal?: AbortSignal }): Promise<VfioAttachment> {
    const sig = opts.signal ? { signal: opts.signal } : {};
    const log = this.#log.child({ sandbox: opts.sandbox, netns });
    await this.check();
    const snap = await inspectNetns(this.#sys, netns, sig);
    const physical = selectEndpoints(snap, { allowPhysical: true }).filter((e) => e.kind === "");
    const endpoints: VfioEndpoint[] = [];
    for (const ep of physical) endpoints.push({ ...ep, bdf: await this.#bdfOf(netns, ep.name, sig) });
    const bdfs = [...new Set([...endpoints.map((e) => e.bdf), ...this.#extra])];
    const bound: string[] = [];
    try {
      for (const bdf of bdfs) {
        bound.push(bdf); // #unbind only undoes what is there, so a half-done bind is rolled back too
        await this.#bind(bdf);
        log.info("device bound to vfio-pci", { model: "vfio", bdf });
      }
    } catch (e) {
      for (const bdf of bound.reverse()) {
        await this.#unbind(bdf).catch((err) =>
          log.error("rollback failed", { model: "vfio", bdf, error: toRuntimeError(err).message })
        );
      }
      throw e;
    }
    const devices: Device[] = bdfs.map((bdf, i) => ({ kind: "vfio", id: deviceId(`net${i}`), bdf }));
    return { endpoints, devices };
  }

  async detach(_netns: string, attachment: NetworkAttachment): Promise<void> {
    for (const d of attachment.devices) {
      if (d.kind === "vfio") await this.#unbind(pciAddress(d.bdf));
    }
  }

  async #bdfOf(netns: string, ifname: string, sig: { signal?: AbortSignal }): Promise<string> {
    const what = `Cannot find the PCI device of "${ifname}" in "${netns}"`;
    const path = (await runInNetns(this.#sys, netns, "unshare", [
      "--mount",
      "--",
      "sh",
      "-c",
      DEVICE_SCRIPT,
      "sh",
      ifname,
    ], {
      what,
      ...sig,
    })).trim();
    const bdf = baseName(path);
    if (!path.includes("/pci") || !BDF_RE.test(bdf)) {
      throw new RuntimeError(
        "FailedPrecondition",
        `${what}: it is not a PCI device (${path || "no device link"})`,
      );
    }
    return bdf;
  }

  async #bind(bdf: string): Promise<void> {
    const dev = `${PCI}/devices/${bdf}`;
    const what = `Cannot bind PCI device "${bdf}" to vfio-pci`;
    if (!(await this.#fs.exists(dev))) throw new RuntimeError("NotFound", `${what}: ${dev} does not exist`);
    const group = await this.#fs.link(`${dev}/iommu_group`);
    if (group === undefined) throw new RuntimeError("FailedPrecondition", `${what}: it is in no IOMMU group`);
    const driver = await this.#fs.link(`${dev}/driver`);
    if (driver !== undefined && baseName(driver) === "vfio-pci") return;
    try {
      await this.#fs.write(`${dev}/driver_override`, "vfio-pci");
      if (driver !== undefined) await this.#fs.write(`${dev}/driver/unbind`, bdf);
      await this.#fs.write(`${PCI}/drivers_probe`, bdf);
    } catch (e) {
      throw new RuntimeError("Internal", `${what}: ${toRuntimeError(e).message}`, { cause: e });
    }
    const now = await this.#fs.link(`${dev}/driver`);
    if (now === undefined || baseName(now) !== "vfio-pci") {
      throw new RuntimeError(
        "FailedPrecondition",
        `${what}: vfio-pci did not take the device (driver is now "${now ? baseName(now) : "none"}")`,
      );
    }
    const groupDir = `/sys/kernel/iommu_groups/${baseName(group)}/devices`;
    for (const other of await this.#fs.list(groupDir)) {
      const d = await this.#fs.link(`${PCI}/devices/${other}/driver`);
      if (d !== undefined && baseName(d) !== "vfio-pci") {
        throw new RuntimeError(
          "FailedPrecondition",
          `${what}: device "${other}" of the same IOMMU group is still on driver "${
            baseName(d)
          }": bind the whole group`,
        );
      }
    }
  }

  async #unbind(bdf: string): Promise<void> {
    const dev = `${PCI}/devices/${bdf}`;
    if (!(await this.#fs.exists(dev))) return;
    const driver = await this.#fs.link(`${dev}/driver`);
    const ours = driver !== undefined && baseName(driver) === "vfio-pci";
    if (ours) await this.#fs.write(`${dev}/driver/unbind`, bdf);
    await this.#fs.write(`${dev}/driver_override`, "\n");
    if (ours) await this.#fs.write(`${PCI}/drivers_probe`, bdf);
    this.#log.info("device returned to the host", { model: "vfio", bdf });
  }
}
