/**
 * Real test against a netns pair (needs root). Where the kernel has no macvtap the test checks that
 * attach refuses with the exact reason instead.
 */
import assert from "node:assert/strict";
import { manifest } from "./manifest.ts";
import { MacvtapNetwork, probeMacvtap } from "./macvtap.ts";
import { createLogger, nullSink } from "../../../runtime/log/logger.ts";
import { sandboxId } from "../../../runtime/ids.ts";
import { isRuntimeError } from "../../../runtime/errors.ts";
import { hostNetSys, runInNetns } from "../../../runtime/sys/ip_command.ts";
import {
  createTestNetns,
  netnsPicture,
  openFrameTap,
  proveTraffic,
} from "../../../runtime/sys/_ip_testing.ts";

const sys = hostNetSys();
const log = createLogger({ sink: nullSink });
const sandbox = sandboxId("sb-mvt");
const tmp = Deno.env.get("TMPDIR") ?? "/tmp";

Deno.test({
  name: "MacvtapNetwork.attach() gives the VM a macvtap whose device carries traffic both ways",
  permissions: { ...manifest.permissions, read: [tmp], write: [tmp] },
  async fn() {
    const support = await probeMacvtap(sys);
    await using ns = await createTestNetns(sys);
    const dir = await Deno.makeTempDir({ prefix: "cocoon-macvtap-" });
    try {
      const net = new MacvtapNetwork(sys, log, { nodeDir: `${dir}/nodes` });
      if (!support.builtIn && support.modulesDisabled) {
        await assert.rejects(
          net.attach(ns.pod, { sandbox }),
          (e: unknown) => isRuntimeError(e) && e.code === "FailedPrecondition",
        );
        return;
      }
      const before = await netnsPicture(sys, ns.pod);
      const att = await net.attach(ns.pod, { sandbox });
      try {
        const ep = att.endpoints[0];
        assert.ok(ep !== undefined && att.endpoints.length === 1);
        const link = JSON.stringify(
          JSON.parse(
            await runInNetns(sys, ns.pod, "ip", ["-d", "-json", "link", "show", ep.macvtap.name], {
              what: "t",
            }),
          ),
        );
        assert.match(link, /"info_kind":"macvtap"/);
        assert.match(link, /"mode":"passthru"/);
        assert.ok(link.includes(`"address":"${ep.mac}"`), "the macvtap has the veth's MAC");
        const st = await Deno.stat(ep.macvtap.charDevice);
        assert.ok(st.isCharDevice);
        {
          await using dev = await openFrameTap(ns.pod, `OPEN:${ep.macvtap.charDevice}`);
          await proveTraffic(sys, ns, dev, { mac: ep.mac, header: new Uint8Array(10) });
        }
      } finally {
        await net.detach(ns.pod, att);
      }
      assert.equal(await netnsPicture(sys, ns.pod), before);
      assert.deepEqual([...Deno.readDirSync(`${dir}/nodes`)], [], "device nodes removed");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "MacvtapNetwork.rescan() drops the node of a macvtap that died with its interface",
  permissions: { ...manifest.permissions, read: [tmp], write: [tmp] },
  async fn() {
    const support = await probeMacvtap(sys);
    if (!support.builtIn && support.modulesDisabled) return; // the refusal is covered above
    await using ns = await createTestNetns(sys);
    const dir = await Deno.makeTempDir({ prefix: "cocoon-macvtap-" });
    try {
      const net = new MacvtapNetwork(sys, log, { nodeDir: dir });
      const first = await net.attach(ns.pod, { sandbox });
      const ip = (args: string[]) => runInNetns(sys, ns.pod, "ip", args, { what: "test" });
      await ip(["link", "add", "eth1", "type", "veth", "peer", "name", "x1", "netns", ns.peerName]);
      const grown = await net.rescan(ns.pod, first, { sandbox });
      assert.equal(grown.added.length, 1);
      assert.equal([...Deno.readDirSync(dir)].length, 2);
      await ip(["link", "del", "eth1"]); // the kernel deletes its macvtap with it
      const shrunk = await net.rescan(ns.pod, grown.attachment, { sandbox });
      assert.deepEqual(shrunk.removed, grown.added);
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [
        `${sandbox}-${first.endpoints[0]?.macvtap.name}`,
      ]);
      await net.detach(ns.pod, shrunk.attachment);
      assert.deepEqual([...Deno.readDirSync(dir)], []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
