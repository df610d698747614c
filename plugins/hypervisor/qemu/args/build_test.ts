import assert from "node:assert/strict";
import { HypervisorError } from "../../../../runtime/errors.ts";
import { deviceId, macAddress, sandboxId } from "../../../../runtime/ids.ts";
import type { VmConfig } from "../../../types.ts";
import { DEFAULT_QEMU_CONFIG } from "../config.ts";
import { buildQemuArgs } from "./build.ts";
import { listenSockets } from "./misc.ts";
import { qemuId, vmPaths } from "./types.ts";

const vm: VmConfig = {
  id: sandboxId("sb-1"),
  stateDir: "/run/cocoon/sb-1",
  kernel: "/usr/share/cocoon/vmlinuz",
  initrd: "/usr/share/cocoon/initrd.img",
  kernelParams: ["agent.log=debug"],
  vcpus: 1,
  maxVcpus: 4,
  memoryMiB: 512,
  maxMemoryMiB: 2048,
  devices: [],
  accelerator: "auto",
  agentChannel: "virtio-serial",
  consoleLog: "/run/cocoon/sb-1/console.log",
};

function argv(v: VmConfig, accel: "kvm" | "tcg" = "tcg", qemu = DEFAULT_QEMU_CONFIG): string[] {
  return buildQemuArgs({ vm: v, qemu, accel, paths: vmPaths(v) });
}

Deno.test({
  name: "buildQemuArgs() gives the full default command line for a typical VM under TCG",
  permissions: "none",
  fn() {
    assert.deepEqual(argv(vm), [
      "-name",
      "cocoon-sb-1,debug-threads=on",
      "-nodefaults",
      "-no-user-config",
      "-no-reboot",
      "-qmp",
      "unix:/run/cocoon/sb-1/qmp.sock,server=on,wait=off",
      "-pidfile",
      "/run/cocoon/sb-1/qemu.pid",
      "-sandbox",
      "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
      "-machine",
      "q35",
      "-accel",
      "tcg,thread=multi",
      "-cpu",
      "max",
      "-smp",
      "1,maxcpus=4",
      "-m",
      "512M,slots=8,maxmem=2048M",
      "-kernel",
      "/usr/share/cocoon/vmlinuz",
      "-initrd",
      "/usr/share/cocoon/initrd.img",
      "-append",
      "console=ttyS0 reboot=k panic=1 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd cryptomgr.notests quiet memhp_default_state=online agent.log=debug",
      "-display",
      "none",
      "-chardev",
      "file,id=console0,path=/run/cocoon/sb-1/console.log,append=on",
      "-serial",
      "chardev:console0",
      "-device",
      "virtio-serial-pci,id=vserial0",
      "-chardev",
      "socket,id=agent,path=/run/cocoon/sb-1/agent.sock,server=on,wait=off",
      "-device",
      "virtserialport,bus=vserial0.0,chardev=agent,name=cocoon.agent",
      "-object",
      "rng-random,id=rng0,filename=/dev/urandom",
      "-device",
      "virtio-rng-pci,id=rng-dev0,rng=rng0",
      "-device",
      "virtio-balloon-pci,id=balloon0,free-page-reporting=on",
      "-device",
      "pcie-root-port,id=hp0,bus=pcie.0,chassis=1,io-reserve=0",
      "-device",
      "pcie-root-port,id=hp1,bus=pcie.0,chassis=2,io-reserve=0",
      "-device",
      "pcie-root-port,id=hp2,bus=pcie.0,chassis=3,io-reserve=0",
      "-device",
      "pcie-root-port,id=hp3,bus=pcie.0,chassis=4,io-reserve=0",
    ]); // deno-fmt-ignore
  },
});

Deno.test({
  name: "buildQemuArgs() uses KVM with -cpu host, vsock for the agent, and shared memfd RAM for virtio-fs",
  permissions: "none",
  fn() {
    const a = argv({
      ...vm,
      agentChannel: "vsock",
      devices: [
        { kind: "vsock", id: deviceId("vsock0"), cid: 42 },
        {
          kind: "share-fs",
          id: deviceId("fs0"),
          tag: "shared",
          source: "/srv",
          transport: "virtio-fs",
          socket: "/run/vfs.sock",
        },
      ],
    }, "kvm").join(" ");
    assert.match(a, / -machine q35,memory-backend=ram0 -accel kvm -cpu host /);
    assert.match(a, / -object memory-backend-memfd,id=ram0,size=512M,share=on /);
    assert.match(a, / -device vhost-vsock-pci,id=dev-vsock0,guest-cid=42 /);
    assert.match(
      a,
      / -chardev socket,id=be-fs0,path=\/run\/vfs.sock -device vhost-user-fs-pci,id=dev-fs0,chardev=be-fs0,tag=shared /,
    );
    assert.doesNotMatch(a, /virtserialport/);
  },
});

Deno.test({
  name: "buildQemuArgs() cold-plugs block, 9p, net and vfio devices with escaped option values",
  permissions: "none",
  fn() {
    const a = argv({
      ...vm,
      devices: [
        { kind: "block", id: deviceId("rootfs"), path: "/img/a,b.img", readOnly: true, driver: "virtio-blk" },
        { kind: "block", id: deviceId("vol"), path: "/img/v.img", readOnly: false, driver: "virtio-scsi" },
        {
          kind: "share-fs",
          id: deviceId("sh"),
          tag: "tag0",
          source: "/srv/share",
          transport: "9p",
          readOnly: true,
        },
        { kind: "net", id: deviceId("eth0"), tap: "tap0", mac: macAddress("02:00:00:00:00:01"), mtu: 1500 },
        { kind: "vfio", id: deviceId("gpu"), bdf: "0000:3b:00.0" },
      ],
    }).join(" ");
    assert.match(a, /-blockdev driver=file,node-name=be-rootfs-f,filename=\/img\/a,,b.img,read-only=on /);
    assert.match(a, /-device virtio-blk-pci,id=dev-rootfs,drive=be-rootfs /);
    assert.match(a, /-device virtio-scsi-pci,id=scsi0 .*-device scsi-hd,id=dev-vol,drive=be-vol,bus=scsi0.0/);
    assert.match(
      a,
      /-fsdev local,id=be-sh,path=\/srv\/share,security_model=none,multidevs=remap,readonly=on -device virtio-9p-pci,id=dev-sh,fsdev=be-sh,mount_tag=tag0/,
    );
    assert.match(
      a,
      /-netdev tap,id=be-eth0,ifname=tap0,script=no,downscript=no,vhost=off -device virtio-net-pci,id=dev-eth0,netdev=be-eth0,mac=02:00:00:00:00:01,host_mtu=1500/,
    );
    assert.match(a, /-device vfio-pci,id=dev-gpu,host=0000:3b:00.0/);
  },
});

Deno.test({
  name:
    "buildQemuArgs() omits hotplug slots when max equals boot size and drops -sandbox when seccomp is off",
  permissions: "none",
  fn() {
    const a = argv({ ...vm, maxVcpus: 1, maxMemoryMiB: 512 }, "tcg", {
      ...DEFAULT_QEMU_CONFIG,
      seccomp: false,
    }).join(" ");
    assert.match(a, / -smp 1 -m 512M /);
    assert.doesNotMatch(a, /-sandbox|memhp_default_state/);
  },
});

Deno.test({
  name:
    "buildQemuArgs() throws InvalidArgument for impossible sizes, duplicate devices and long socket paths",
  permissions: "none",
  fn() {
    const bad = (v: VmConfig, re: RegExp): void =>
      assert.throws(
        () => argv(v),
        (e: unknown) => e instanceof HypervisorError && e.code === "InvalidArgument" && re.test(e.message),
      );
    bad({ ...vm, vcpus: 0 }, /vcpus must be an integer >= 1: current value is 0/);
    bad({ ...vm, maxVcpus: 0 }, /maxVcpus must be an integer >= vcpus/);
    bad({ ...vm, maxMemoryMiB: 128 }, /maxMemoryMiB must be an integer >= memoryMiB \(512\)/);
    bad({ ...vm, stateDir: "/" + "x".repeat(120) }, /socket path ".*" is longer than 107 bytes/);
    const d = { kind: "vfio" as const, id: deviceId("a"), bdf: "0000:00:01.0" };
    bad({ ...vm, devices: [d, d] }, /device id "a" is used twice/);
    bad({ ...vm, agentChannel: "vsock" }, /agent channel "vsock" needs a device of kind "vsock"/);
  },
});

Deno.test({
  name: "qemuId() keeps short ids and hashes long or unusual ones into 28 characters",
  permissions: "none",
  fn() {
    assert.equal(qemuId("dev", "disk1"), "dev-disk1");
    const long = qemuId("be", "x".repeat(100));
    assert.ok(long.length <= 28 && /^be-x+-[0-9a-f]{8}$/.test(long));
    assert.notEqual(qemuId("dev", "a+b"), qemuId("dev", "a_b"));
  },
});

Deno.test({
  name: "buildQemuArgs() maps a template's RAM file shared and a clone's privately with -incoming defer",
  permissions: "none",
  fn() {
    const t = argv({ ...vm, memoryTemplate: { kind: "template", memoryFile: "/t/k/memory" } }).join(" ");
    assert.match(t, / -machine q35,memory-backend=ram0 /);
    assert.match(t, / -object memory-backend-file,id=ram0,size=512M,mem-path=\/t\/k\/memory,share=on /);
    assert.doesNotMatch(t, /-incoming/);
    const c = argv({
      ...vm,
      memoryTemplate: { kind: "clone", memoryFile: "/t/k/memory", stateFile: "/t/k/state" },
    }).join(" ");
    assert.match(c, / -object memory-backend-file,id=ram0,size=512M,mem-path=\/t\/k\/memory,share=off /);
    assert.match(c, / -incoming defer /);
    assert.doesNotMatch(c, /memory-backend-memfd/);
  },
});

Deno.test({
  name: "buildQemuArgs() for a QEMU with a uid of its own: inherited sockets, a second monitor, no pidfile",
  permissions: "none",
  fn() {
    const v = { ...vm, debugConsole: true };
    const input = {
      vm: v,
      qemu: DEFAULT_QEMU_CONFIG,
      accel: "tcg" as const,
      paths: vmPaths(v),
      ownUid: true,
    };
    const a = buildQemuArgs(input);
    assert.ok(!a.includes("-pidfile") && !a.includes("-qmp"), a.join(" "));
    for (const fd of [90, 91, 92, 93]) {
      assert.ok(a.some((x) => x.includes(`fd=${fd},server=on,wait=off`)), `fd ${fd}`);
    }
    assert.equal(a.filter((x) => x.startsWith("chardev=qmp") && x.endsWith("mode=control")).length, 2);
    assert.ok(a.includes("secret,id=cocoon-vm-dir,data=/run/cocoon/sb-1"));
    assert.ok(!a.some((x) => x.includes("path=/run/cocoon/sb-1/qmp.sock") || x.includes("agent.sock")));
    assert.deepEqual(listenSockets(input).map((s) => s.path), [
      "/run/cocoon/sb-1/qmp.sock",
      "/run/cocoon/sb-1/fdpass.sock",
      "/run/cocoon/sb-1/agent.sock",
      "/run/cocoon/sb-1/debug.sock",
    ]);
  },
});

Deno.test({
  name: "buildQemuArgs() sizes TCG's translation buffer when configured, never under KVM",
  permissions: "none",
  fn() {
    const qemu = { ...DEFAULT_QEMU_CONFIG, tcgTbSizeMiB: 64 };
    assert.ok(argv(vm, "tcg", qemu).includes("tcg,thread=multi,tb-size=64"));
    assert.ok(argv(vm, "kvm", qemu).includes("kvm"));
  },
});

Deno.test({
  name:
    "buildQemuArgs() maps an nvdimm device as a shared, read-only memory-backend-file behind virtio-pmem-pci; microvm and unaligned sizes are refused",
  permissions: "none",
  fn() {
    const pmem = {
      kind: "block",
      id: deviceId("userland"),
      path: "/g/rootfs.erofs",
      readOnly: true,
      driver: "nvdimm",
      sizeBytes: 4 * 1024 * 1024,
    } as const;
    const a = argv({ ...vm, devices: [pmem] });
    assert.ok(
      a.includes(
        `memory-backend-file,id=${
          qemuId("be", "userland")
        },mem-path=/g/rootfs.erofs,size=4194304,share=on,readonly=on`,
      ),
      a.join(" "),
    );
    assert.ok(
      a.includes(`virtio-pmem-pci,id=${qemuId("dev", "userland")},memdev=${qemuId("be", "userland")}`),
    );
    assert.ok(!a.some((x) => x.includes("virtio-blk")));
    assert.throws(
      () => argv({ ...vm, devices: [{ ...pmem, sizeBytes: 4 * 1024 * 1024 + 512 }] }),
      (e: unknown) => e instanceof HypervisorError && /not a positive multiple of 2 MiB/.test(e.message),
    );
    assert.throws(
      () => argv({ ...vm, devices: [pmem] }, "tcg", { ...DEFAULT_QEMU_CONFIG, machineType: "microvm" }),
      /microvm machine has no PCI bus/,
    );
  },
});
