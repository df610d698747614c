/**
 * The `bridge` network model: for each interface in the pod's netns, a bridge `br<N>_cocoon` joins
 * it with a tap `tap<N>_cocoon` that QEMU opens from inside the netns:
 *
 * ```
 * ip link add name br0_cocoon type bridge
 * ip link set dev br0_cocoon mtu <mtu>
 * ip link set dev br0_cocoon address <random local MAC>
 * sysctl -q -w net.ipv4.conf.br0_cocoon.arp_ignore=8      (the netns stack must not answer ARP
 * sysctl -q -w net.ipv6.conf.br0_cocoon.disable_ipv6=1      or ND for the pod's addresses via br0)
 * ip tuntap add dev tap0_cocoon mode tap ; ip link set dev tap0_cocoon mtu <mtu> ; ... up
 * ip link set dev eth0 alias cocoon-mac=<veth mac>       (the original MAC, kept in the kernel)
 * ip link set dev eth0 address <random local MAC>
 * ip link set dev eth0 master br0_cocoon
 * ip link set dev tap0_cocoon master br0_cocoon
 * ip link set dev br0_cocoon up
 * ```
 *
 * The guest NIC takes the veth's original MAC. The veth itself must get another one: a bridge
 * keeps a local FDB entry for each port's own MAC and would deliver frames for it to the netns
 * stack instead of forwarding them to the tap. The original MAC lives in the veth's alias, so
 * detach can restore it after a crash; detach deletes every `br<N>_cocoon`/`tap<N>_cocoon`, then
 * gives the veth back its MAC and clears the alias. Addresses stay on the veth throughout.
 *
 * @module
 */
import type { Device, NetworkAttachment, NetworkBackend } from "../../types.ts";
import type { Logger } from "../../../runtime/log/logger.ts";
import { deviceId, type SandboxId } from "../../../runtime/ids.ts";
import { toRuntimeError } from "../../../runtime/errors.ts";
import { type NetSys, runInNetns } from "../../../runtime/sys/ip_command.ts";
import { inspectNetns, listLinks, type NetLink } from "../../../runtime/sys/ip_inspect.ts";
import {
  cocoonLinkName,
  createTap,
  deleteLinksMatching,
  type EndpointInfo,
  selectEndpoints,
} from "../../../runtime/sys/ip_endpoints.ts";

const ALIAS_PREFIX = "cocoon-mac=";
const OWN_RE = /^(br|tap)\d+_cocoon$/;

export interface BridgeAttachment extends NetworkAttachment {
  readonly endpoints: readonly EndpointInfo[];
}

/** A random locally administered unicast MAC. */
export function randomLocalMac(): string {
  const b = crypto.getRandomValues(new Uint8Array(6));
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

function originalMac(l: NetLink): string | undefined {
  return l.alias?.startsWith(ALIAS_PREFIX) ? l.alias.slice(ALIAS_PREFIX.length) : undefined;
}

export class BridgeNetwork implements NetworkBackend {
  readonly #sys: NetSys;
  readonly #log: Logger;
  readonly #newMac: () => string;

  constructor(sys: NetSys, log: Logger, opts: { newMac?: () => string } = {}) {
    this.#sys = sys;
    this.#log = log;
    this.#newMac = opts.newMac ?? randomLocalMac;
  }

  async attach(netns: string, opts: { sandbox: SandboxId; signal?: AbortSignal }): Promise<BridgeAttachment> {
    const sig = opts.signal ? { signal: opts.signal } : {};
    const log = this.#log.child({ sandbox: opts.sandbox, netns });
    await this.#sweep(netns, sig);
    const endpoints = selectEndpoints(await inspectNetns(this.#sys, netns, sig), { originalMac });
    const devices: Device[] = [];
    try {
      for (const ep of endpoints) {
        const tap = cocoonLinkName("tap", ep.index);
        await this.#connect(netns, ep, { bridge: cocoonLinkName("br", ep.index), tap }, sig);
        devices.push({ kind: "net", id: deviceId(`net${ep.index}`), tap, mac: ep.mac, mtu: ep.mtu });
        log.info("endpoint attached", { model: "bridge", endpoint: ep.name, tap, mac: ep.mac });
      }
    } catch (e) {
      await this.#sweep(netns, {}).catch((err) =>
        log.error("rollback failed", { model: "bridge", error: toRuntimeError(err).message })
      );
      throw e;
    }
    return { endpoints, devices };
  }

  async detach(netns: string, _attachment: NetworkAttachment): Promise<void> {
    const removed = await this.#sweep(netns, {});
    this.#log.info("detached", { model: "bridge", netns, removed });
  }

  async #connect(
    netns: string,
    ep: EndpointInfo,
    names: { bridge: string; tap: string },
    sig: { signal?: AbortSignal },
  ): Promise<void> {
    const what = `Cannot bridge "${ep.name}" to tap "${names.tap}" in "${netns}"`;
    const ip = (args: string[]) => runInNetns(this.#sys, netns, "ip", args, { what, ...sig });
    await ip(["link", "add", "name", names.bridge, "type", "bridge"]);
    await ip(["link", "set", "dev", names.bridge, "mtu", String(ep.mtu)]);
    await ip(["link", "set", "dev", names.bridge, "address", this.#newMac()]);
    // The netns stack must not answer for the pod's addresses through the bridge (the guest does).
    for (
      const key of [
        `net.ipv4.conf.${names.bridge}.arp_ignore=8`,
        `net.ipv6.conf.${names.bridge}.disable_ipv6=1`,
      ]
    ) {
      await runInNetns(this.#sys, netns, "sysctl", ["-q", "-w", key], { what, ...sig });
    }
    await createTap(this.#sys, netns, { name: names.tap, mtu: ep.mtu }, sig);
    await ip(["link", "set", "dev", ep.name, "alias", `${ALIAS_PREFIX}${ep.mac}`]);
    await ip(["link", "set", "dev", ep.name, "address", this.#newMac()]);
    await ip(["link", "set", "dev", ep.name, "master", names.bridge]);
    await ip(["link", "set", "dev", names.tap, "master", names.bridge]);
    await ip(["link", "set", "dev", names.bridge, "up"]);
  }

  /** Deletes Cocoon's bridges and taps and gives each veth its MAC back. */
  async #sweep(netns: string, sig: { signal?: AbortSignal }): Promise<string[]> {
    const links = await listLinks(this.#sys, netns, sig);
    const removed = await deleteLinksMatching(this.#sys, netns, links, OWN_RE, sig);
    for (const l of links) {
      const mac = originalMac(l);
      if (mac === undefined) continue;
      const what = `Cannot restore "${l.name}" in "${netns}"`;
      const ip = (args: string[]) => runInNetns(this.#sys, netns, "ip", args, { what, ...sig });
      await ip(["link", "set", "dev", l.name, "address", mac]);
      await ip(["link", "set", "dev", l.name, "alias", ""]);
      removed.push(`mac:${l.name}`);
    }
    return removed;
  }
}
