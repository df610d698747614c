/**
 * The `tcfilter` network model (Kata's default): for each interface in the pod's netns, a tap
 * `tap<N>_cocoon` is created beside it in the same netns, both get an ingress qdisc, and one u32
 * match-all filter per direction redirects every frame to the other device:
 *
 * ```
 * ip tuntap add dev tap0_cocoon mode tap
 * ip link set dev tap0_cocoon mtu <veth mtu>
 * ip link set dev tap0_cocoon up
 * tc qdisc add dev eth0 ingress                    (only when eth0 has none yet)
 * tc qdisc add dev tap0_cocoon ingress
 * tc filter add dev eth0 parent ffff: protocol all pref 49344 u32 match u8 0 0 action mirred egress redirect dev tap0_cocoon
 * tc filter add dev tap0_cocoon parent ffff: protocol all pref 49344 u32 match u8 0 0 action mirred egress redirect dev eth0
 * ```
 *
 * each run as `nsenter --net=<netns> -- <cmd>`. Addresses stay on the veth; the guest NIC gets the
 * veth's MAC, addresses and routes (returned in the endpoints) so the peer's ARP cache stays valid.
 * u32 `match u8 0 0` is used rather than `matchall` because it is in every kernel (this host has no
 * cls_matchall).
 *
 * Teardown is driven by the netns state, not by memory, so it also works after a crash or kill -9:
 * every `tap<N>_cocoon` is deleted (its qdisc and filter go with it), the pref-49344 filters are
 * removed from the other links, and an ingress qdisc left empty by that is deleted too.
 *
 * @module
 */
import type { Device, NetworkAttachment, NetworkBackend } from "../../types.ts";
import type { Logger } from "../../../runtime/log/logger.ts";
import { deviceId, type SandboxId } from "../../../runtime/ids.ts";
import { toRuntimeError } from "../../../runtime/errors.ts";
import { type NetSys, runInNetns } from "../../../runtime/sys/ip_command.ts";
import { inspectNetns, listLinks } from "../../../runtime/sys/ip_inspect.ts";
import {
  cocoonLinkName,
  createTap,
  deleteLinksMatching,
  type EndpointInfo,
  hasIngressQdisc,
  INGRESS_PARENT,
  ingressFilterPrefs,
  isCocoonLink,
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
export function redirectFilterArgs(from: string, to: string): string[] {
  return [
    "filter",
    "add",
    "dev",
    from,
    "parent",
    INGRESS_PARENT,
    "protocol",
    "all",
    "pref",
    String(FILTER_PREF),
    "u32",
    "match",
    "u8",
    "0",
    "0",
    "action",
    "mirred",
    "egress",
    "redirect",
    "dev",
    to,
  ];
}

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
    const log = this.#log.child({ sandbox: opts.sandbox, netns });
    // A previous attach that died half way leaves taps behind: start from a clean netns.
    await this.#sweep(netns, sig);
    const endpoints = selectEndpoints(await inspectNetns(this.#sys, netns, sig));
    const devices: Device[] = [];
    try {
      for (const ep of endpoints) {
        const tap = cocoonLinkName("tap", ep.index);
        await this.#connect(netns, ep, tap, sig);
        devices.push({ kind: "net", id: deviceId(`net${ep.index}`), tap, mac: ep.mac, mtu: ep.mtu });
        log.info("endpoint attached", {
          model: "tcfilter",
          endpoint: ep.name,
          tap,
          mac: ep.mac,
          mtu: ep.mtu,
        });
      }
    } catch (e) {
      await this.#sweep(netns, {}).catch((err) =>
        log.error("rollback failed", { model: "tcfilter", error: String(toRuntimeError(err).message) })
      );
      throw e;
    }
    return { endpoints, devices };
  }

  async detach(netns: string, _attachment: NetworkAttachment): Promise<void> {
    const removed = await this.#sweep(netns, {});
    this.#log.info("detached", { model: "tcfilter", netns, removed });
  }

  async #connect(netns: string, ep: EndpointInfo, tap: string, sig: { signal?: AbortSignal }): Promise<void> {
    const what = `Cannot connect "${ep.name}" to tap "${tap}" in "${netns}"`;
    await createTap(this.#sys, netns, { name: tap, mtu: ep.mtu }, sig);
    if (!(await hasIngressQdisc(this.#sys, netns, ep.name, sig))) {
      await runInNetns(this.#sys, netns, "tc", ["qdisc", "add", "dev", ep.name, "ingress"], { what, ...sig });
    }
    await runInNetns(this.#sys, netns, "tc", ["qdisc", "add", "dev", tap, "ingress"], { what, ...sig });
    await runInNetns(this.#sys, netns, "tc", redirectFilterArgs(ep.name, tap), { what, ...sig });
    await runInNetns(this.#sys, netns, "tc", redirectFilterArgs(tap, ep.name), { what, ...sig });
  }

  /** Removes everything tcfilter may have made in `netns`; returns what it removed. */
  async #sweep(netns: string, sig: { signal?: AbortSignal }): Promise<string[]> {
    const removed: string[] = [];
    const links = await listLinks(this.#sys, netns, sig);
    removed.push(...await deleteLinksMatching(this.#sys, netns, links, TAP_RE, sig));
    for (const l of links.filter((x) => !isCocoonLink(x.name) && x.linkType === "ether")) {
      if (!(await hasIngressQdisc(this.#sys, netns, l.name, sig))) continue;
      const prefs = await ingressFilterPrefs(this.#sys, netns, l.name, sig);
      const what = `Cannot remove the tc redirect from "${l.name}" in "${netns}"`;
      if (prefs.includes(FILTER_PREF)) {
        await runInNetns(this.#sys, netns, "tc", [
          "filter",
          "del",
          "dev",
          l.name,
          "parent",
          INGRESS_PARENT,
          "protocol",
          "all",
          "pref",
          String(FILTER_PREF),
        ], { what, ...sig });
        removed.push(`filter:${l.name}`);
        if (prefs.every((p) => p === FILTER_PREF)) {
          await runInNetns(this.#sys, netns, "tc", ["qdisc", "del", "dev", l.name, "ingress"], {
            what,
            ...sig,
          });
          removed.push(`qdisc:${l.name}`);
        }
      }
    }
    return removed;
  }
}
