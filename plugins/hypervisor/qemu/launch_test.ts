import assert from "node:assert/strict";
import { deviceId, macAddress, sandboxId } from "../../../runtime/ids.ts";
import type { Device, VmConfig } from "../../types.ts";
import { DEFAULT_QEMU_CONFIG } from "./config.ts";
import { buildQemuArgs } from "./args/build.ts";
import { charDeviceFds } from "./args/devices.ts";
import { vmPaths } from "./args/types.ts";
import { launchArgv, netnsPath } from "./launch.ts";

Deno.test({
  name: "launchArgv() runs QEMU under setsid alone when there is no netns and no fd",
  permissions: "none",
  fn() {
    assert.deepEqual(launchArgv({ binary: "qemu", args: ["-S"] }), {
      program: "setsid",
      args: ["qemu", "-S"],
    });
  },
});

Deno.test({
  name: "launchArgv() enters the netns and opens each character device on its fd before QEMU",
  permissions: "none",
  fn() {
    const got = launchArgv({
      binary: "qemu",
      args: ["-S"],
      netns: "pod1",
      fds: [{ fd: 3, path: "/run/m/a" }, { fd: 4, path: "/run/m/b" }],
    });
    assert.deepEqual(got, {
      program: "setsid",
      args: [
        "nsenter",
        "--net=/var/run/netns/pod1",
        "--",
        "sh",
        "-c",
        'exec 3<>"$1"; shift; exec 4<>"$1"; shift; exec "$@"',
        "sh",
        "/run/m/a",
        "/run/m/b",
        "qemu",
        "-S",
      ],
    });
  },
});

Deno.test({
  name: "netnsPath() keeps paths and puts bare names under /var/run/netns",
  permissions: "none",
  fn() {
    assert.equal(netnsPath("/proc/7/ns/net"), "/proc/7/ns/net");
    assert.equal(netnsPath("cni-1"), "/var/run/netns/cni-1");
  },
});

Deno.test({
  name: "buildQemuArgs() opens a tap by name, and a macvtap through the fd given to its node",
  permissions: "none",
  fn() {
    const devices: Device[] = [
      {
        kind: "net",
        id: deviceId("net3"),
        tap: "tap3_cocoon",
        mac: macAddress("02:00:00:00:00:03"),
        mtu: 1500,
      },
      {
        kind: "net",
        id: deviceId("net4"),
        tap: "mvt4_cocoon",
        mac: macAddress("02:00:00:00:00:04"),
        mtu: 1450,
        charDevice: "/run/cocoon/macvtap/sb-mvt4_cocoon",
      },
    ];
    const vm: VmConfig = {
      id: sandboxId("sb"),
      stateDir: "/run/cocoon/sb",
      kernel: "/k",
      kernelParams: [],
      vcpus: 1,
      maxVcpus: 1,
      memoryMiB: 256,
      maxMemoryMiB: 256,
      devices,
      accelerator: "tcg",
      agentChannel: "virtio-serial",
      consoleLog: "/run/cocoon/sb/console.log",
    };
    const args = buildQemuArgs({ vm, qemu: DEFAULT_QEMU_CONFIG, accel: "tcg", paths: vmPaths(vm) });
    const netdevs = args.filter((_, i) => args[i - 1] === "-netdev");
    assert.deepEqual(netdevs, [
      "tap,id=be-net3,ifname=tap3_cocoon,script=no,downscript=no,vhost=off",
      "tap,id=be-net4,fd=3,vhost=off",
    ]);
    assert.deepEqual([...charDeviceFds(devices).entries()], [
      ["net4", { fd: 3, path: "/run/cocoon/macvtap/sb-mvt4_cocoon" }],
    ]);
  },
});

Deno.test({
  name: "launchArgv() loads the no-privileged-files filter right before QEMU, after netns and fds",
  permissions: "none",
  fn() {
    const { program, args } = launchArgv({
      binary: "qemu-system-x86_64",
      args: ["-S"],
      netns: "pod1",
      fds: [{ fd: 3, path: "/dev/tap7" }],
      confine: { perl: "/usr/bin/perl", filter: "/run/x/no-privileged-files.bpf" },
    });
    assert.equal(program, "setsid");
    assert.deepEqual(args.slice(0, 3), ["nsenter", "--net=/var/run/netns/pod1", "--"]);
    const perl = args.indexOf("/usr/bin/perl");
    assert.ok(perl > args.indexOf("/dev/tap7"), "the fds are opened before the filter is loaded");
    assert.deepEqual(args.slice(perl + 3), [
      "--",
      "/run/x/no-privileged-files.bpf",
      "--",
      "qemu-system-x86_64",
      "-S",
    ]);
  },
});

Deno.test({
  name: "launchArgv() passes the jail to the loader: user, caps, taps, writable paths, shares, cwd",
  permissions: "none",
  fn() {
    const { args } = launchArgv({
      binary: "qemu-system-x86_64",
      args: ["-S"],
      confine: { perl: "/usr/bin/perl", filter: "/run/x/f.bpf" },
      jail: {
        user: { uid: 1879048193, gid: 1879048193, groups: [108] },
        caps: [0, 1, 3],
        taps: ["tap0_cocoon"],
        writable: ["/run/x/vm", "/run/x/console.log"],
        root: "/run/x/vm/.root",
        visible: ["/usr"],
        shares: ["/run/x/shared"],
        cwd: "/run/x/vm",
      },
    });
    const perl = args.indexOf("/usr/bin/perl");
    assert.deepEqual(args.slice(perl + 3), [
      "--",
      "/run/x/f.bpf",
      "--user",
      "1879048193:1879048193:108",
      "--caps",
      "0,1,3",
      "--tap",
      "tap0_cocoon",
      "--root",
      "/run/x/vm/.root",
      "--see",
      "/usr",
      "--rw",
      "/run/x/vm",
      "--rw",
      "/run/x/console.log",
      "--share",
      "/run/x/shared",
      "--cwd",
      "/run/x/vm",
      "--",
      "qemu-system-x86_64",
      "-S",
    ]);
    assert.throws(
      () => launchArgv({ binary: "q", args: [], confine: { perl: "p", filter: "f" }, jail: { taps: ["t"] } }),
      /taps are handed to a user/,
    );
  },
});
