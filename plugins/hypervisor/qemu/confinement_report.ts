/**
 * What `cocoon check` says about QEMU's confinement: its own seccomp filter, its uid and mount
 * namespace, and the no-privileged-files filter loaded before it starts. Turning either off takes an `insecure_*` key and is a warning.
 *
 * @module
 */
import type { HostCheck } from "../../types.ts";
import type { QemuConfig } from "./config.ts";
import { findPerl } from "../../../runtime/sys/seccomp/confine.ts";
import { filterSupported } from "../../../runtime/sys/seccomp/no_privileged_files.ts";
import { DEFAULT_VM_USER_RANGE } from "../../../runtime/sys/vm_user.ts";

export async function confinementReport(qemu: QemuConfig): Promise<HostCheck[]> {
  const out: HostCheck[] = [];
  out.push(
    qemu.seccomp
      ? {
        name: "qemu seccomp",
        status: "ok",
        detail: "-sandbox on (spawn, elevate privileges, resource control denied)",
      }
      : {
        name: "qemu seccomp",
        status: "warn",
        detail:
          "off: insecure_disable_seccomp = true; a QEMU device-emulation bug reaches every host syscall",
        fix: "remove insecure_disable_seccomp from [hypervisor.qemu]",
      },
  );
  if (!qemu.confine) {
    out.push({
      name: "qemu confinement",
      status: "warn",
      detail:
        "off: insecure_unconfined = true; guest root can make setuid files and device nodes on the host through the shared filesystem",
      fix: "remove insecure_unconfined from [hypervisor.qemu]",
    });
    return out;
  }
  out.push(
    qemu.vmUser
      ? {
        name: "qemu user",
        status: "ok",
        detail:
          `a uid of its own per VM (from ${DEFAULT_VM_USER_RANGE.first}), no capabilities (virtio-9p: chown, dac_override, fowner), a root of its own holding only what it needs, read-only but its console log; root only for VM templates and VFIO`,
      }
      : {
        name: "qemu user",
        status: "warn",
        detail: "root in the host's mount namespace: insecure_run_as_root = true",
        fix: "remove insecure_run_as_root from [hypervisor.qemu]",
      },
  );
  const perl = await findPerl();
  out.push(
    perl !== undefined && filterSupported()
      ? {
        name: "qemu confinement",
        status: "ok",
        detail: "no-privileged-files seccomp filter (no setuid/setgid files, device nodes or xattrs)",
      }
      : {
        name: "qemu confinement",
        status: "fail",
        detail: perl === undefined
          ? "perl (the filter's loader) is not installed"
          : `no filter for ${Deno.build.arch}`,
        fix: "apt-get install perl-base (or set insecure_unconfined = true)",
      },
  );
  return out;
}
