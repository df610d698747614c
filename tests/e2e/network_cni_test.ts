/**
 * With a real CNI plugin: Debian's containernetworking-plugins `bridge` + `host-local` IPAM set up
 * the pod netns exactly as for runc (run inside a throwaway "host" netns, so the machine's own netns
 * is not touched), tcfilter carries eth0 into a QEMU guest that takes the CNI-assigned address and
 * default route from the attachment, and the host side fetches the guest's page and pings it.
 * CNI DEL then finds its netns as it left it.
 */
import assert from "node:assert/strict";
import { createLogger, nullSink } from "../../runtime/log/logger.ts";
import { sandboxId } from "../../runtime/ids.ts";
import { hostNetSys, runOnHost } from "../../runtime/sys/ip_command.ts";
import { netnsPicture } from "../../runtime/sys/_ip_testing.ts";
import type { NetworkAttachment } from "../../plugins/types.ts";
import { TcFilterNetwork } from "../../plugins/network/tcfilter/tcfilter.ts";
import { ensureNetTestGuest, NET_PING_OK, NET_READY, PAGE_MARKER } from "./network_guest.ts";
import { inNetns, startGuestVm, waitForLine } from "./network_vm.ts";

const sys = hostNetSys();
const log = createLogger({ sink: nullSink });
const CNI_PATH = "/usr/lib/cni";

async function exists(p: string): Promise<boolean> {
  return await Deno.stat(p).then(() => true, () => false);
}

async function cni(
  command: "ADD" | "DEL",
  p: { hostNs: string; podNs: string; id: string; config: string },
): Promise<string> {
  const child = new Deno.Command("nsenter", {
    args: [`--net=${p.hostNs}`, "--", `${CNI_PATH}/bridge`],
    env: { CNI_COMMAND: command, CNI_CONTAINERID: p.id, CNI_NETNS: p.podNs, CNI_IFNAME: "eth0", CNI_PATH },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(p.config));
  await w.close();
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`CNI ${command} failed: ${text} ${new TextDecoder().decode(out.stderr)}`);
  return text;
}

Deno.test({
  name:
    "tcfilter carries an interface made by the CNI bridge plugin into a guest reachable from the host side",
  ignore: !(await exists(`${CNI_PATH}/bridge`)) || !(await exists(`${CNI_PATH}/host-local`)),
  permissions: {
    run: ["nsenter", "ip", "tc", "apt-get", "apt-cache", "dpkg-deb", "sh", "cpio", "gzip"],
    read: true,
    write: ["/tmp", new URL("../../.cache", import.meta.url).pathname],
    env: true,
    net: true,
  },
  async fn() {
    const guest = await ensureNetTestGuest();
    const tag = crypto.randomUUID().slice(0, 6);
    const names = { host: `cct-${tag}-host`, pod: `cct-${tag}-pod` };
    const hostNs = `/var/run/netns/${names.host}`;
    const podNs = `/var/run/netns/${names.pod}`;
    const dir = await Deno.makeTempDir({ prefix: "cocoon-netcni-" });
    const subnet = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250)}`;
    const config = JSON.stringify({
      cniVersion: "1.0.0",
      name: `cocoon-${tag}`,
      type: "bridge",
      bridge: `cni-ct${tag}`,
      isGateway: true,
      ipMasq: false,
      ipam: {
        type: "host-local",
        ranges: [[{ subnet: `${subnet}.0/24` }]],
        routes: [{ dst: "0.0.0.0/0" }],
        dataDir: `${dir}/ipam`,
      },
    });
    const ip = (args: string[]) => runOnHost(sys, "ip", args, { what: "test" });
    let added = false;
    let att: NetworkAttachment | undefined;
    const net = new TcFilterNetwork(sys, log);
    try {
      await ip(["netns", "add", names.host]);
      await ip(["netns", "add", names.pod]);
      await ip(["-n", names.host, "link", "set", "lo", "up"]);
      const result: unknown = JSON.parse(await cni("ADD", { hostNs, podNs, id: tag, config }));
      added = true;
      const ipsOf = JSON.stringify(
        typeof result === "object" && result !== null ? Reflect.get(result, "ips") : "",
      );
      const before = await netnsPicture(sys, podNs);

      const a = await net.attach(podNs, { sandbox: sandboxId(`cni-${tag}`) });
      att = a;
      const ep = a.endpoints[0];
      const nic = a.devices[0];
      assert.ok(ep !== undefined && nic?.kind === "net" && a.endpoints.length === 1);
      const cidr = ep.addresses.find((a) => a.startsWith(`${subnet}.`));
      assert.ok(cidr !== undefined && ipsOf.includes(cidr), `${String(ep.addresses)} vs CNI ${ipsOf}`);
      const gw = ep.routes.find((r) => r.destination === "" && r.family === 4)?.gateway;
      assert.equal(gw, `${subnet}.1`);
      const podIp = cidr.split("/")[0] ?? "";

      await using vm = startGuestVm({
        netns: podNs,
        dir,
        guest,
        nic,
        cmdline: `cocoon.net=${nic.mac},${cidr},${gw},${nic.mtu}`,
      });
      await waitForLine(vm.consoleLog, NET_READY, 180_000);
      const page = await inNetns(hostNs, ["busybox", "wget", "-q", "-O", "-", `http://${podIp}/`]);
      assert.ok(page.ok && page.out.includes(`${PAGE_MARKER} ${nic.mac}`), page.out);
      const ping = await inNetns(hostNs, ["busybox", "ping", "-c", "3", "-W", "3", podIp]);
      assert.ok(ping.ok && / 0% packet loss/.test(ping.out), ping.out);
      await waitForLine(vm.consoleLog, NET_PING_OK, 30_000); // the guest reached the CNI gateway
      await vm[Symbol.asyncDispose]();
      await net.detach(podNs, a);
      att = undefined;
      assert.equal(await netnsPicture(sys, podNs), before, "the pod netns is as the CNI left it");
    } finally {
      if (att !== undefined) await net.detach(podNs, att).catch(() => {});
      if (added) await cni("DEL", { hostNs, podNs, id: tag, config }).catch(() => {});
      for (const n of [names.pod, names.host]) await ip(["netns", "del", n]).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
