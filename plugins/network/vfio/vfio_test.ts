import assert from "node:assert/strict";
import { manifest } from "./manifest.ts";
import { pciAddress, VfioNetwork } from "./vfio.ts";
import { hostSysfs, type VfioSysfs } from "./sysfs.ts";
import { createLogger, nullSink } from "../../../runtime/log/logger.ts";
import { sandboxId } from "../../../runtime/ids.ts";
import { isRuntimeError } from "../../../runtime/errors.ts";
import { hostNetSys } from "../../../runtime/sys/ip_command.ts";
import { commandsUsed, fakeNetns } from "../../../runtime/sys/_ip_fake_netns.ts";
import { RecordingNetSys } from "../../../runtime/sys/_ip_fake.ts";
import { createTestNetns, netnsPicture } from "../../../runtime/sys/_ip_testing.ts";

const log = createLogger({ sink: nullSink });
const sandbox = sandboxId("sb-1");
const NS = "/var/run/netns/pod";
const VF = "0000:3b:02.1";

/** In-memory sysfs: one VF on ixgbevf in IOMMU group 12 (plus `groupMates`), vfio-pci loaded. */
function fakeSysfs(
  opts: { iommu?: boolean; vfioDriver?: boolean; groupMates?: Record<string, string> } = {},
) {
  const drivers = new Map<string, string | undefined>([
    [VF, "ixgbevf"],
    ...Object.entries(opts.groupMates ?? {}),
  ]);
  const original = new Map(drivers);
  const override = new Map<string, string>();
  const writes: string[] = [];
  const D = "/sys/bus/pci/devices/";
  const fs: VfioSysfs & { writes: string[] } = {
    writes,
    list: (p) =>
      Promise.resolve(
        p === "/sys/kernel/iommu_groups"
          ? (opts.iommu === false ? [] : ["12"])
          : p === "/sys/kernel/iommu_groups/12/devices"
          ? [...drivers.keys()]
          : [],
      ),
    link(p) {
      const m = /^\/sys\/bus\/pci\/devices\/([^/]+)\/(driver|iommu_group)$/.exec(p);
      if (m === null || !drivers.has(m[1] ?? "")) return Promise.resolve(undefined);
      if (m[2] === "iommu_group") return Promise.resolve("../../../kernel/iommu_groups/12");
      const d = drivers.get(m[1] ?? "");
      return Promise.resolve(d === undefined ? undefined : `../../../bus/pci/drivers/${d}`);
    },
    exists: (p) =>
      Promise.resolve(
        p === "/sys/bus/pci/drivers/vfio-pci" ? opts.vfioDriver !== false : drivers.has(p.slice(D.length)),
      ),
    write(p, text) {
      writes.push(`${p} <- ${JSON.stringify(text)}`);
      const dev = p.startsWith(D) ? p.slice(D.length).split("/")[0] ?? "" : text;
      if (p.endsWith("/driver_override")) override.set(dev, text.trim());
      else if (p.endsWith("/driver/unbind")) drivers.set(dev, undefined);
      else if (p === "/sys/bus/pci/drivers_probe") drivers.set(dev, override.get(dev) || original.get(dev));
      return Promise.resolve();
    },
  };
  return fs;
}

Deno.test({
  name: "VfioNetwork.attach() binds a configured device to vfio-pci and detach() gives it back",
  permissions: "none",
  async fn() {
    const fs = fakeSysfs();
    const net = new VfioNetwork(fakeNetns(), fs, log, { devices: ["0000:3B:02.1"] });
    const att = await net.attach(NS, { sandbox });
    assert.deepEqual(att.devices, [{ kind: "vfio", id: "net0", bdf: VF }]);
    assert.deepEqual(att.endpoints, [], "eth0 is a veth, not a PCI device");
    assert.deepEqual(fs.writes, [
      `/sys/bus/pci/devices/${VF}/driver_override <- "vfio-pci"`,
      `/sys/bus/pci/devices/${VF}/driver/unbind <- "${VF}"`,
      `/sys/bus/pci/drivers_probe <- "${VF}"`,
    ]);
    fs.writes.length = 0;
    await net.detach(NS, att);
    assert.deepEqual(fs.writes, [
      `/sys/bus/pci/devices/${VF}/driver/unbind <- "${VF}"`,
      `/sys/bus/pci/devices/${VF}/driver_override <- "\\n"`,
      `/sys/bus/pci/drivers_probe <- "${VF}"`,
    ]);
    assert.equal(await fs.link(`/sys/bus/pci/devices/${VF}/driver`), "../../../bus/pci/drivers/ixgbevf");
    fs.writes.length = 0;
    await net.detach(NS, att);
    assert.deepEqual(
      fs.writes,
      [`/sys/bus/pci/devices/${VF}/driver_override <- "\\n"`],
      "second detach only clears",
    );
  },
});

Deno.test({
  name: "VfioNetwork.attach() passes through a physical interface of the netns with its addresses",
  permissions: "none",
  async fn() {
    const sys = fakeNetns({
      extraLinks: [{
        ifindex: 9,
        ifname: "eth0",
        kind: "",
        address: "52:54:00:12:34:56",
        mtu: 9000,
        parentbus: "pci",
        parentdev: VF,
      }],
      respond: (c) =>
        c.startsWith("unshare ") ? { stdout: `/sys/devices/pci0000:3a/0000:3a:00.0/${VF}\n` } : undefined,
    });
    const att = await new VfioNetwork(sys, fakeSysfs(), log).attach(NS, { sandbox });
    assert.deepEqual(att.endpoints.map((e) => [e.name, e.bdf, e.mac, e.mtu]), [[
      "eth0",
      VF,
      "52:54:00:12:34:56",
      9000,
    ]]);
    assert.deepEqual(att.devices, [{ kind: "vfio", id: "net0", bdf: VF }]);
    assert.ok(
      sys.commands.includes(
        `unshare --mount -- sh -c mount -t sysfs sysfs /sys && readlink -f /sys/class/net/"$1"/device sh eth0`,
      ),
    );
  },
});

Deno.test({
  name: "VfioNetwork.attach() refuses a device whose IOMMU group is not all on vfio-pci and rolls back",
  permissions: "none",
  async fn() {
    const fs = fakeSysfs({ groupMates: { "0000:3b:02.2": "ixgbevf" } });
    const net = new VfioNetwork(fakeNetns(), fs, log, { devices: [VF] });
    await assert.rejects(
      net.attach(NS, { sandbox }),
      /^RuntimeError: Cannot bind PCI device "0000:3b:02.1" to vfio-pci: device "0000:3b:02.2" of the same IOMMU group is still on driver "ixgbevf": bind the whole group$/,
    );
    assert.equal(
      await fs.link(`/sys/bus/pci/devices/${VF}/driver`),
      "../../../bus/pci/drivers/ixgbevf",
      "rolled back",
    );
  },
});

Deno.test({
  name: "VfioNetwork.check() names the missing IOMMU or vfio-pci driver",
  permissions: "none",
  async fn() {
    const noIommu = new VfioNetwork(fakeNetns(), fakeSysfs({ iommu: false }), log);
    await assert.rejects(noIommu.check(), (e: unknown) => {
      assert.ok(isRuntimeError(e) && e.code === "FailedPrecondition");
      assert.equal(
        e.message,
        'Cannot use network model "vfio": the host has no IOMMU groups (/sys/kernel/iommu_groups is empty): enable VT-d/AMD-Vi and boot with intel_iommu=on or amd_iommu=on',
      );
      return true;
    });
    const noDriver = new VfioNetwork(fakeNetns(), fakeSysfs({ vfioDriver: false }), log);
    await assert.rejects(noDriver.check(), /the vfio-pci driver is not loaded/);
    assert.throws(
      () => new VfioNetwork(fakeNetns(), fakeSysfs(), log, { devices: ["3b:02.1"] }),
      /Invalid PCI address "3b:02.1"/,
    );
    assert.equal(pciAddress("0000:AF:00.7"), "0000:af:00.7");
  },
});

Deno.test({
  name: "VfioNetwork on this host: check() and attach() report the real reason and touch nothing",
  permissions: manifest.permissions,
  async fn() {
    const sys = hostNetSys();
    const fs = hostSysfs(sys);
    const hasIommu = (await fs.list("/sys/kernel/iommu_groups")).length > 0;
    const hasDriver = await fs.exists("/sys/bus/pci/drivers/vfio-pci");
    const net = new VfioNetwork(sys, fs, log);
    if (hasIommu && hasDriver) {
      await net.check(); // a host with passthrough support: check passes (no device is touched)
      return;
    }
    const reason = hasIommu ? /the vfio-pci driver is not loaded/ : /the host has no IOMMU groups/;
    await assert.rejects(net.check(), reason);
    await using ns = await createTestNetns(sys);
    const before = await netnsPicture(sys, ns.pod);
    await assert.rejects(net.attach(ns.pod, { sandbox }), (e: unknown) => {
      assert.ok(isRuntimeError(e) && e.code === "FailedPrecondition" && reason.test(e.message), String(e));
      return true;
    });
    assert.equal(await netnsPicture(sys, ns.pod), before);
  },
});

Deno.test({
  name: "hostSysfs() runs only commands the vfio manifest lists",
  permissions: "none",
  async fn() {
    const rec = new RecordingNetSys((argv) =>
      argv[0] === "readlink" ? { stdout: "../../x/vfio-pci\n" } : { code: 1 }
    );
    const fs = hostSysfs(rec);
    assert.deepEqual(await fs.list("/sys/kernel/iommu_groups"), []);
    assert.equal(await fs.link("/sys/bus/pci/devices/x/driver"), "../../x/vfio-pci");
    assert.equal(await fs.exists("/sys/bus/pci/drivers/vfio-pci"), false);
    await assert.rejects(
      fs.write("/sys/bus/pci/drivers_probe", VF),
      /Cannot write "\/sys\/bus\/pci\/drivers_probe"/,
    );
    assert.deepEqual(rec.calls, [
      "ls -1 -- /sys/kernel/iommu_groups",
      "readlink -- /sys/bus/pci/devices/x/driver",
      "ls -d -- /sys/bus/pci/drivers/vfio-pci",
      `sh -c printf %s "$1" > "$2" sh ${VF} /sys/bus/pci/drivers_probe`,
    ]);
    const allowed = manifest.permissions.run;
    assert.ok(Array.isArray(allowed));
    for (const c of commandsUsed(rec.calls)) assert.ok(allowed.includes(c), `"${c}" is not in the manifest`);
  },
});
