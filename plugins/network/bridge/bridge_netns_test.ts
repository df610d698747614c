/** Real tests against a netns pair made with `ip netns add` (needs root); see tcfilter's for the method. */
import assert from "node:assert/strict";
import { manifest } from "./manifest.ts";
import { BridgeNetwork } from "./bridge.ts";
import { createLogger, nullSink } from "../../../runtime/log/logger.ts";
import { sandboxId } from "../../../runtime/ids.ts";
import { hostNetSys, type NetSys, runInNetns } from "../../../runtime/sys/ip_command.ts";
import {
  createTestNetns,
  netnsPicture,
  openFrameTap,
  proveTraffic,
} from "../../../runtime/sys/_ip_testing.ts";

const sys = hostNetSys();
const log = createLogger({ sink: nullSink });
const sandbox = sandboxId("sb-br");

Deno.test({
  name: "BridgeNetwork.attach() puts veth and tap on a bridge and traffic crosses both ways",
  permissions: manifest.permissions,
  async fn() {
    await using ns = await createTestNetns(sys);
    const before = await netnsPicture(sys, ns.pod);
    const net = new BridgeNetwork(sys, log);
    const att = await net.attach(ns.pod, { sandbox });
    try {
      const ep = att.endpoints[0];
      assert.ok(ep !== undefined && att.endpoints.length === 1);
      const TAP = `tap${ep.ifindex}_cocoon`;
      const BR = `br${ep.ifindex}_cocoon`;
      assert.ok(ep.addresses.includes(`${ns.podIp}/24`));
      const links = JSON.parse(
        await runInNetns(sys, ns.pod, "ip", ["-json", "link", "show"], { what: "test" }),
      );
      const byName = new Map<string, Record<string, unknown>>(
        Array.isArray(links) ? links.map((l: Record<string, unknown>) => [String(l["ifname"]), l]) : [],
      );
      assert.equal(byName.get("eth0")?.["master"], BR);
      assert.equal(byName.get(TAP)?.["master"], BR);
      assert.notEqual(byName.get("eth0")?.["address"], ep.mac, "the veth gave its MAC to the guest");
      assert.equal(att.devices[0]?.kind === "net" ? att.devices[0].mac : "", ep.mac);
      {
        await using dev = await openFrameTap(
          ns.pod,
          `TUN,tun-name=${TAP},tun-type=tap,iff-no-pi,iff-up`,
        );
        await proveTraffic(sys, ns, dev, { mac: ep.mac });
      }
    } finally {
      await net.detach(ns.pod, att);
    }
    assert.equal(await netnsPicture(sys, ns.pod), before);
  },
});

Deno.test({
  name: "BridgeNetwork.attach() leaves the netns as it was when a step fails",
  permissions: manifest.permissions,
  async fn() {
    await using ns = await createTestNetns(sys);
    const before = await netnsPicture(sys, ns.pod);
    const failing: NetSys = {
      run(cmd, args, opts) {
        if (/^tap\d+_cocoon master br\d+_cocoon$/.test(args.slice(-3).join(" "))) {
          return Promise.resolve({ code: 2, stdout: "", stderr: "injected failure" });
        }
        return sys.run(cmd, args, opts);
      },
    };
    await assert.rejects(new BridgeNetwork(failing, log).attach(ns.pod, { sandbox }), /injected failure/);
    assert.equal(await netnsPicture(sys, ns.pod), before);
  },
});
