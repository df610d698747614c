/**
 * What `cocoon check` says about QEMU's confinement: its own seccomp filter, and the
 * no-privileged-files filter loaded before it starts. Turning either off takes an `insecure_*` key and is a warning.
 *
 * @module
 */
import type { HostCheck } from "../../types.ts";
import type { QemuConfig } from "./config.ts";
import { findPerl } from "../../../runtime/sys/seccomp/confine.ts";
import { filterSupported } from "../../../runtime/sys/seccomp/no_privileged_files.ts";

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
