import assert from "node:assert/strict";
import { deviceId, macAddress } from "../../../runtime/ids.ts";
import type { QemuVm } from "./qemu.ts";
import { leftovers, TEST_PERMISSIONS, testHypervisor, testVmConfig } from "./_test_util.ts";

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(out.stderr).trim()}`);
  return dec.decode(out.stdout).trim();
}

const isRoot = Deno.uid() === 0;

Deno.test({
  name: "QemuVm.start() runs QEMU inside VmConfig.netns with a tap by name and a macvtap on an inherited fd",
  ignore: !isRoot,
  permissions: {
    ...TEST_PERMISSIONS,
    run: [...(Array.isArray(TEST_PERMISSIONS.run) ? TEST_PERMISSIONS.run : []), "ip", "mknod"],
  },
  async fn() {
    const ns = `cqn-${crypto.randomUUID().slice(0, 8)}`;
    await run("ip", ["netns", "add", ns]);
    try {
      await run("ip", ["-n", ns, "tuntap", "add", "dev", "tap9_cocoon", "mode", "tap"]);
      await run("ip", ["-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
      await run("ip", [
        "-n",
        ns,
        "link",
        "add",
        "link",
        "v0",
        "name",
        "mvt9_cocoon",
        "type",
        "macvtap",
        "mode",
        "passthru",
      ]);
      // ip netns exec mounts the netns's own sysfs, where the macvtap's device number is.
      const devno = await run("ip", [
        "netns",
        "exec",
        ns,
        "sh",
        "-c",
        "cat /sys/class/net/mvt9_cocoon/macvtap/tap*/dev",
      ]);
      const [major = "", minor = ""] = devno.split(":");
      const cfg0 = await testVmConfig("qemu-netns");
      const node = `${cfg0.stateDir}/mvt9`;
      await run("mknod", ["-m", "0600", node, "c", major, minor]);
      const cfg = {
        ...cfg0,
        netns: ns,
        devices: [
          {
            kind: "net" as const,
            id: deviceId("n1"),
            tap: "tap9_cocoon",
            mac: macAddress("02:00:00:00:09:01"),
            mtu: 1500,
          },
          {
            kind: "net" as const,
            id: deviceId("n2"),
            tap: "mvt9_cocoon",
            mac: macAddress("02:00:00:00:09:02"),
            mtu: 1500,
            charDevice: node,
          },
        ],
      };
      const vm = await testHypervisor().createVm(cfg);
      try {
        await vm.start();
        const [pid] = vm.pids();
        assert.ok(pid !== undefined);
        assert.equal(await run("ip", ["netns", "identify", String(pid)]), ns);
        const info = await (vm as QemuVm).qmp!.execute("human-monitor-command", {
          "command-line": "info network",
        });
        assert.ok(
          typeof info === "string" && info.includes("ifname=tap9_cocoon") && info.includes("fd=3"),
          String(info),
        );
      } finally {
        await vm.stop({ force: true });
        await Deno.remove(node);
        assert.deepEqual(await leftovers(cfg.stateDir), []);
        await Deno.remove(cfg.stateDir, { recursive: true });
      }
    } finally {
      await run("ip", ["netns", "del", ns]);
    }
  },
});
