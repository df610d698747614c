import assert from "node:assert/strict";
import { HypervisorError } from "../../../runtime/errors.ts";
import { deviceId, macAddress } from "../../../runtime/ids.ts";
import { GUEST_MARKER } from "./_test_guest.ts";
import {
  blockDevice,
  leftovers,
  TEST_PERMISSIONS,
  testHypervisor,
  testVmConfig,
  waitForText,
} from "./_test_util.ts";
import type { QemuVm } from "./qemu.ts";

async function ip(...args: string[]): Promise<void> {
  const out = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

Deno.test({
  name:
    "QemuVm.addDevice() hotplugs a tap-backed virtio-net device and removeDevice() deletes it and its netdev; vCPUs grow",
  permissions: {
    ...TEST_PERMISSIONS,
    run: [...(Array.isArray(TEST_PERMISSIONS.run) ? TEST_PERMISSIONS.run : []), "ip"],
  },
  async fn() {
    const tap = `cct${Math.floor(Math.random() * 1e6)}`;
    await ip("tuntap", "add", "dev", tap, "mode", "tap");
    const cfg = await testVmConfig("qemu-net");
    const vm = await testHypervisor({ hotplugPorts: 2 }).createVm(cfg);
    try {
      await vm.start();
      await waitForText(cfg.consoleLog, GUEST_MARKER);
      const qmp = (vm as QemuVm).qmp;
      assert.ok(qmp);
      const net = {
        kind: "net" as const,
        id: deviceId("eth0"),
        tap,
        mac: macAddress("02:00:00:00:00:07"),
        mtu: 1400,
      };
      const att = await vm.addDevice(net);
      assert.match(att.guestAddress ?? "", /^0000:[0-9a-f]{2}:00\.0$/);
      assert.ok(JSON.stringify(await qmp.execute("query-pci")).includes(`"dev-eth0"`));
      // QEMU refuses a VFIO device the host does not have, and nothing is left behind
      const vfio = { kind: "vfio" as const, id: deviceId("nodev"), bdf: "0000:ff:1f.7" };
      await assert.rejects(vm.addDevice(vfio), (e: unknown) => e instanceof HypervisorError);
      // two hotplug ports: the net device holds one, a disk takes the other, a second disk finds none
      const img = `${cfg.stateDir}/a.img`;
      await Deno.writeFile(img, new Uint8Array(1024 * 1024));
      const disk = await vm.addDevice(blockDevice("a", img));
      await assert.rejects(
        vm.addDevice(blockDevice("b", img)),
        (e: unknown) => e instanceof HypervisorError && e.code === "ResourceExhausted",
      );
      await vm.removeDevice(disk);
      await vm.removeDevice(att);
      assert.ok(!JSON.stringify(await qmp.execute("query-pci")).includes(`"dev-eth0"`));
      // the netdev is gone too: adding the same id again works
      const again = await vm.addDevice(net);
      await vm.removeDevice(again);
    } finally {
      await vm[Symbol.asyncDispose]();
      assert.deepEqual(await leftovers(cfg.stateDir), []);
      await Deno.remove(cfg.stateDir, { recursive: true });
      await ip("link", "del", tap);
    }
  },
});
