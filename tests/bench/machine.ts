/**
 * The machine a benchmark run measured, recorded beside its figures: cores, CPU, memory, the
 * accelerator guests get (kvm, or tcg where KVM is absent or is PVM, whose guests hang), the QEMU
 * version and the host kernel.
 *
 * @module
 */

/** What bench/results.json records as `machine`. */
export interface Machine {
  readonly cores: number;
  readonly cpu: string;
  readonly memoryGiB: number;
  readonly accelerator: "kvm" | "tcg";
  readonly qemu: string;
  readonly kernel: string;
  readonly deno: string;
  readonly date: string;
}

/** The QEMU version out of `qemu-system-x86_64 --version`'s first line. Pure. */
export function parseQemuVersion(text: string): string {
  return /version\s+(\S+)/i.exec(text)?.[1] ?? "unknown";
}

/** Describes this machine. */
export async function machine(): Promise<Machine> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "unknown";
  const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
  const pvm = await exists("/sys/module/kvm_pvm");
  const kvm = await exists("/dev/kvm") &&
    (await exists("/sys/module/kvm_intel") || await exists("/sys/module/kvm_amd"));
  const qemu = await new Deno.Command("qemu-system-x86_64", {
    args: ["--version"],
    stdout: "piped",
    stderr: "null",
  }).output().then((r) => new TextDecoder().decode(r.stdout), () => "");
  return {
    cores: navigator.hardwareConcurrency,
    cpu: model,
    memoryGiB: Math.round(Deno.systemMemoryInfo().total / 2 ** 30),
    accelerator: !pvm && kvm && Deno.env.get("COCOON_TEST_ACCEL") !== "tcg" ? "kvm" : "tcg",
    qemu: parseQemuVersion(qemu),
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    date: new Date().toISOString(),
  };
}
