/**
 * The `bridge` network model: for each interface in the pod's netns, a bridge `br<ifindex>_cocoon` joins
 * it with a tap `tap<ifindex>_cocoon` that QEMU opens from inside the netns:
 *
 * ```
 * ip link add name br3_cocoon type bridge   (3: the ifindex of eth0 in the netns)
 * ip link set dev br3_cocoon mtu <mtu>
 * ip link set dev br3_cocoon address <random local MAC>
 * sysctl -q -w net.ipv4.conf.br3_cocoon.arp_ignore=8      (the netns stack must not answer ARP
 * sysctl -q -w net.ipv6.conf.br3_cocoon.disable_ipv6=1      or ND for the pod's addresses via the bridge)
 * ip tuntap add dev tap3_cocoon mode tap ; ip link set dev tap3_cocoon mtu <mtu> ; ... up
 * ip link set dev eth0 alias cocoon-mac=<veth mac>       (the original MAC, kept in the kernel)
 * ip link set dev eth0 address <random local MAC>
 * ip link set dev eth0 master br3_cocoon
 * ip link set dev tap3_cocoon master br3_cocoon
 * ip link set dev br3_cocoon up
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
  cocoonLinkIndex,
  cocoonLinkName,
  createTap,
  deleteLinksMatching,
  type EndpointInfo,
  type NetworkRescan,
  selectEndpoints,
} from "../../../runtime/sys/ip_endpoints.ts";

const ALIAS_PREFIX = "cocoon-mac=";
const OWN_RE = /^(br|tap)\d+_cocoon$/;

export interface BridgeAttachment extends NetworkAttachment {
  readonly endpoints: readonly EndpointInfo[];
}

/** A random locally administered unicast MAC. */
function randomLocalMac(): string {
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
    await this.#sweep(netns, sig);
    return (await this.#reconcile(netns, { endpoints: [], devices: [] }, opts.sandbox, sig)).attachment;
  }

  /** Connects interfaces added to the netns since, and drops bridges of interfaces gone. */
  rescan(
    netns: string,
    previous: NetworkAttachment,
    opts: { sandbox: SandboxId; signal?: AbortSignal },
  ): Promise<NetworkRescan<BridgeAttachment>> {
    return this.#reconcile(netns, previous, opts.sandbox, opts.signal ? { signal: opts.signal } : {});
  }

  async detach(netns: string, _attachment: NetworkAttachment): Promise<void> {
    const removed = await this.#sweep(netns, {});
    this.#log.info("detached", { model: "bridge", netns, removed });
  }

  async #reconcile(
    netns: string,
    previous: NetworkAttachment,
    sandbox: SandboxId,
    sig: { signal?: AbortSignal },
  ): Promise<NetworkRescan<BridgeAttachment>> {
    const log = this.#log.child({ sandbox, netns });
    const snap = await inspectNetns(this.#sys, netns, sig);
    const endpoints = selectEndpoints(snap, { originalMac });
    const wanted = new Set(endpoints.map((ep) => ep.ifindex));
    const byName = new Map(snap.links.map((l) => [l.name, l]));
    const stale = snap.links.filter((l) => {
      const n = cocoonLinkIndex("br", l.name) ?? cocoonLinkIndex("tap", l.name);
      return n !== undefined && !wanted.has(n);
    });
    await deleteLinksMatching(this.#sys, netns, stale, OWN_RE, sig);
    const devices: Device[] = [];
    const added: Device[] = [];
    for (const ep of endpoints) {
      const names = { bridge: cocoonLinkName("br", ep.ifindex), tap: cocoonLinkName("tap", ep.ifindex) };
      const device: Device = {
        kind: "net",
        id: deviceId(`net${ep.ifindex}`),
        tap: names.tap,
        mac: ep.mac,
        mtu: ep.mtu,
      };
      const intact = byName.has(names.tap) && byName.get(ep.name)?.master === names.bridge;
      if (!intact) {
        try {
          await this.#release(netns, ep.name, names, sig); // whatever a broken earlier try left
          await this.#connect(netns, ep, names, sig);
        } catch (e) {
          await this.#release(netns, ep.name, names, {}).catch((err) =>
            log.error("rollback failed", {
              model: "bridge",
              tap: names.tap,
              error: toRuntimeError(err).message,
            })
          );
          // On a first attach nothing of this sandbox may stay behind.
          if (previous.devices.length === 0) await this.#sweep(netns, {}).catch(() => {});
          throw e;
        }
        added.push(device);
        log.info("endpoint attached", { model: "bridge", endpoint: ep.name, tap: names.tap, mac: ep.mac });
      }
      devices.push(device);
    }
    const taps = new Set(devices.flatMap((d) => d.kind === "net" ? [d.tap] : []));
    const removed = previous.devices.filter((d) => d.kind === "net" && !taps.has(d.tap));
    return { attachment: { endpoints, devices }, added, removed };
  }

  /** Deletes the bridge and tap of one interface and gives it its MAC back. */
  async #release(
    netns: string,
    ifname: string,
    names: { bridge: string; tap: string },
    sig: { signal?: AbortSignal },
  ): Promise<void> {
    const links = await listLinks(this.#sys, netns, sig);
    await deleteLinksMatching(
      this.#sys,
      netns,
      links.filter((l) => l.name === names.bridge || l.name === names.tap),
      OWN_RE,
      sig,
    );
    const link = links.find((l) => l.name === ifname);
    if (link !== undefined) await this.#restore(netns, link, sig);
  }

  async #restore(netns: string, l: NetLink, sig: { signal?: AbortSignal }): Promise<boolean> {
    const mac = originalMac(l);
    if (mac === undefined) return false;
    const what = `Cannot restore "${l.name}" in "${netns}"`;
    const ip = (args: string[]) => runInNetns(this.#sys, netns, "ip", args, { what, ...sig });
    await ip(["link", "set", "dev", l.name, "address", mac]);
    await ip(["link", "set", "dev", l.name, "alias", ""]);
    return true;
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
      if (await this.#restore(netns, l, sig)) removed.push(`mac:${l.name}`);
    }
    return removed;
  }
}
