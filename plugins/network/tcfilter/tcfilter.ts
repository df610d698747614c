/**
 * The `tcfilter` network model (Kata's default): for each interface in the pod's netns, a tap
 * `tap<ifindex>_cocoon` is created beside it in the same netns, both get an ingress qdisc, and one
 * u32 match-all filter per direction redirects every frame to the other device:
 *
 * ```
 * ip tuntap add dev tap3_cocoon mode tap
 * ip link set dev tap3_cocoon mtu <veth mtu>
 * ip link set dev tap3_cocoon up
 * tc qdisc add dev eth0 ingress                    (only when eth0 has none yet)
 * tc qdisc add dev tap3_cocoon ingress
 * tc filter add dev eth0 parent ffff: protocol all pref 49344 u32 match u8 0 0 action mirred egress redirect dev tap3_cocoon
 * tc filter add dev tap3_cocoon parent ffff: protocol all pref 49344 u32 match u8 0 0 action mirred egress redirect dev eth0
 * ```
 *
 * each run as `nsenter --net=<netns> -- <cmd>`. Addresses stay on the veth; the guest NIC gets the
 * veth's MAC, addresses and routes (returned in the endpoints) so the peer's ARP cache stays valid.
 * u32 `match u8 0 0` is used rather than `matchall` because it is in every kernel (this host has no
 * cls_matchall). QEMU must open the tap from inside the netns (`nsenter --net=<netns> qemu ...
 * -netdev tap,ifname=tap3_cocoon,script=no,downscript=no,vhost=off`).
 *
 * Everything is driven by the netns state, not by memory, so it also works after a crash or
 * kill -9: teardown deletes every `tap<N>_cocoon` (its qdisc and filter go with it), removes the
 * pref-49344 filters from the other links, and deletes an ingress qdisc left empty by that.
 * `rescan` connects interfaces added since and drops taps whose interface is gone.
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
  hasIngressQdisc,
  INGRESS_PARENT,
  ingressFilterPrefs,
  isCocoonLink,
  type NetworkRescan,
  selectEndpoints,
} from "../../../runtime/sys/ip_endpoints.ts";

/** Preference of Cocoon's redirect filters (0xc0c0), so they can be found and removed alone. */
export const FILTER_PREF = 49344;
const TAP_RE = /^tap\d+_cocoon$/;

/** What `attach` returns: endpoints with routes and neighbours, and one net device per endpoint. */
export interface TcFilterAttachment extends NetworkAttachment {
  readonly endpoints: readonly EndpointInfo[];
}

/** tc argv of the redirect filter from `from` to `to`. */
function redirectFilterArgs(from: string, to: string): string[] {
  // deno-fmt-ignore
  return ["filter", "add", "dev", from, "parent", INGRESS_PARENT, "protocol", "all", "pref", String(FILTER_PREF),
    "u32", "match", "u8", "0", "0", "action", "mirred", "egress", "redirect", "dev", to];
}

type Sig = { signal?: AbortSignal };

export class TcFilterNetwork implements NetworkBackend {
  readonly #sys: NetSys;
  readonly #log: Logger;

  constructor(sys: NetSys, log: Logger) {
    this.#sys = sys;
    this.#log = log;
  }

  async attach(
    netns: string,
    opts: { sandbox: SandboxId; signal?: AbortSignal },
  ): Promise<TcFilterAttachment> {
    const sig = opts.signal ? { signal: opts.signal } : {};
    // A previous attach that died half way leaves taps behind: start from a clean netns.
    await this.#sweep(netns, sig);
    return (await this.#reconcile(netns, { endpoints: [], devices: [] }, opts.sandbox, sig)).attachment;
  }

  /**
   * Brings the taps in line with the netns's interfaces now: connects new ones, drops taps whose
   * interface went away. `added`/`removed` are the devices to hot-plug into/out of the VM.
   */
  rescan(
    netns: string,
    previous: NetworkAttachment,
    opts: { sandbox: SandboxId; signal?: AbortSignal },
  ): Promise<NetworkRescan<TcFilterAttachment>> {
    return this.#reconcile(netns, previous, opts.sandbox, opts.signal ? { signal: opts.signal } : {});
  }

  async detach(netns: string, _attachment: NetworkAttachment): Promise<void> {
    const removed = await this.#sweep(netns, {});
    this.#log.info("detached", { model: "tcfilter", netns, removed });
  }

  async #reconcile(
    netns: string,
    previous: NetworkAttachment,
    sandbox: SandboxId,
    sig: Sig,
  ): Promise<NetworkRescan<TcFilterAttachment>> {
    const log = this.#log.child({ sandbox, netns });
    const snap = await inspectNetns(this.#sys, netns, sig);
    const endpoints = selectEndpoints(snap);
    const want = new Set(endpoints.map((ep) => cocoonLinkName("tap", ep.ifindex)));
    const have = new Set(snap.links.filter((l) => TAP_RE.test(l.name)).map((l) => l.name));
    const stale = snap.links.filter((l) => TAP_RE.test(l.name) && !want.has(l.name));
    await deleteLinksMatching(this.#sys, netns, stale, TAP_RE, sig);
    const devices: Device[] = [];
    const added: Device[] = [];
    for (const ep of endpoints) {
      const tap = cocoonLinkName("tap", ep.ifindex);
      const device: Device = { kind: "net", id: deviceId(`net${ep.ifindex}`), tap, mac: ep.mac, mtu: ep.mtu };
      if (!have.has(tap)) {
        try {
          await this.#connect(netns, ep, tap, sig);
        } catch (e) {
          await this.#disconnect(netns, ep.name, tap).catch((err) =>
            log.error("rollback failed", { model: "tcfilter", tap, error: toRuntimeError(err).message })
          );
          // On a first attach nothing of this sandbox may stay behind.
          if (previous.devices.length === 0) await this.#sweep(netns, {}).catch(() => {});
          throw e;
        }
        added.push(device);
        log.info("endpoint attached", {
          model: "tcfilter",
          endpoint: ep.name,
          tap,
          mac: ep.mac,
          mtu: ep.mtu,
        });
      }
      devices.push(device);
    }
    const removed = previous.devices.filter((d) => d.kind === "net" && !want.has(d.tap));
    return { attachment: { endpoints, devices }, added, removed };
  }

  async #connect(netns: string, ep: EndpointInfo, tap: string, sig: Sig): Promise<void> {
    const what = `Cannot connect "${ep.name}" to tap "${tap}" in "${netns}"`;
    const tc = (args: string[]) => runInNetns(this.#sys, netns, "tc", args, { what, ...sig });
    await this.#dropFilter(netns, ep.name, sig); // a redirect left from a tap deleted behind our back
    await createTap(this.#sys, netns, { name: tap, mtu: ep.mtu }, sig);
    if (!(await hasIngressQdisc(this.#sys, netns, ep.name, sig))) {
      await tc(["qdisc", "add", "dev", ep.name, "ingress"]);
    }
    await tc(["qdisc", "add", "dev", tap, "ingress"]);
    await tc(redirectFilterArgs(ep.name, tap));
    await tc(redirectFilterArgs(tap, ep.name));
  }

  async #disconnect(netns: string, ifname: string, tap: string): Promise<void> {
    const links = await listLinks(this.#sys, netns);
    await deleteLinksMatching(this.#sys, netns, links, new RegExp(`^${tap}$`));
    if (links.some((l) => l.name === ifname)) await this.#dropFilter(netns, ifname, {});
  }

  /** Removes the pref-49344 filter from `dev`, and its ingress qdisc when nothing else uses it. */
  async #dropFilter(netns: string, dev: string, sig: Sig): Promise<boolean> {
    if (!(await hasIngressQdisc(this.#sys, netns, dev, sig))) return false;
    const prefs = await ingressFilterPrefs(this.#sys, netns, dev, sig);
    if (!prefs.includes(FILTER_PREF)) return false;
    const what = `Cannot remove the tc redirect from "${dev}" in "${netns}"`;
    const tc = (args: string[]) => runInNetns(this.#sys, netns, "tc", args, { what, ...sig });
    await tc([
      "filter",
      "del",
      "dev",
      dev,
      "parent",
      INGRESS_PARENT,
      "protocol",
      "all",
      "pref",
      String(FILTER_PREF),
    ]);
    if (prefs.every((p) => p === FILTER_PREF)) await tc(["qdisc", "del", "dev", dev, "ingress"]);
    return true;
  }

  /** Removes everything tcfilter may have made in `netns`; returns what it removed. */
  async #sweep(netns: string, sig: Sig): Promise<string[]> {
    const links = await listLinks(this.#sys, netns, sig);
    const removed = await deleteLinksMatching(this.#sys, netns, links, TAP_RE, sig);
    const others = links.filter((l: NetLink) => !isCocoonLink(l.name) && l.linkType === "ether");
    for (const l of others) {
      if (await this.#dropFilter(netns, l.name, sig)) removed.push(`filter:${l.name}`);
    }
    return removed;
  }
}
