/**
 * The `macvtap` network model: for each interface in the pod's netns a macvtap in passthru mode is
 * put on top of it (`mvt<ifindex>_cocoon`), which takes the interface's MAC and every frame it receives:
 *
 * ```
 * ip link add link eth0 name mvt3_cocoon type macvtap mode passthru
 * ip link set dev mvt3_cocoon mtu <mtu>
 * ip link set dev mvt3_cocoon up
 * unshare --mount -- sh -c 'mount -t sysfs sysfs /sys && cat /sys/class/net/"$1"/macvtap/tap*\/dev' sh mvt3_cocoon
 * mknod -m 0600 <runDir>/macvtap/<sandbox>-mvt3_cocoon c <major> <minor>            (on the host)
 * ```
 *
 * (the first four inside the netns via `nsenter --net=<netns> --`). A macvtap is not opened by
 * name: QEMU needs a file descriptor of its character device (`-netdev tap,fd=N`). The host's
 * /dev/tap<ifindex> cannot be trusted (ifindexes repeat across netns and devtmpfs keeps only the
 * first), so the plugin reads major:minor from a private sysfs mount of the netns and makes its own
 * node; {@link MacvtapEndpoint.charDevice} is the path the hypervisor opens read-write and passes
 * as the fd (e.g. `3<>path` and `-netdev tap,id=..,fd=3,vhost=off`). The device then carries a
 * virtio-net header (IFF_VNET_HDR is on by default).
 *
 * The kernel must have macvtap (`macvtap` in /proc/devices, or a loadable module); otherwise attach
 * fails with `FailedPrecondition` and the reason.
 *
 * @module
 */
import type { Device, NetworkAttachment, NetworkBackend } from "../../types.ts";
import type { Logger } from "../../../runtime/log/logger.ts";
import { deviceId, type SandboxId } from "../../../runtime/ids.ts";
import { RuntimeError, toRuntimeError } from "../../../runtime/errors.ts";
import { type NetSys, runInNetns, runOnHost } from "../../../runtime/sys/ip_command.ts";
import { inspectNetns, listLinks } from "../../../runtime/sys/ip_inspect.ts";
import {
  cocoonLinkName,
  deleteLinksMatching,
  type EndpointInfo,
  type NetworkRescan,
  selectEndpoints,
} from "../../../runtime/sys/ip_endpoints.ts";

const OWN_RE = /^mvt\d+_cocoon$/;
const SYSFS_SCRIPT = 'mount -t sysfs sysfs /sys && cat /sys/class/net/"$1"/macvtap/tap*/dev';

export interface MacvtapEndpoint extends EndpointInfo {
  readonly macvtap: {
    readonly name: string;
    /** Node of the macvtap character device that the hypervisor opens and passes as `fd=`. */
    readonly charDevice: string;
    readonly major: number;
    readonly minor: number;
  };
}

export interface MacvtapAttachment extends NetworkAttachment {
  readonly endpoints: readonly MacvtapEndpoint[];
}

/** What the host offers for macvtap: read from /proc/devices and /proc/cmdline. */
export interface MacvtapSupport {
  readonly builtIn: boolean;
  readonly modulesDisabled: boolean;
}

/**
 * Reads the host's macvtap support. With `cat`, because Deno asks for --allow-all to read these
 * /proc files directly.
 */
export async function probeMacvtap(sys: NetSys): Promise<MacvtapSupport> {
  const what = "Cannot check macvtap support";
  const devices = await runOnHost(sys, "cat", ["/proc/devices"], { what });
  const cmdline = await runOnHost(sys, "cat", ["/proc/cmdline"], { what }).catch(() => "");
  return {
    builtIn: devices.split("\n").some((l) => /^\s*\d+\s+macvtap$/.test(l)),
    modulesDisabled: cmdline.split(/\s+/).includes("nomodule"),
  };
}

export interface MacvtapOptions {
  /** Directory for the character-device nodes (`<runDir>/macvtap`). */
  readonly nodeDir: string;
  readonly probe?: () => Promise<MacvtapSupport>;
}

export class MacvtapNetwork implements NetworkBackend {
  readonly #sys: NetSys;
  readonly #log: Logger;
  readonly #nodeDir: string;
  readonly #probe: () => Promise<MacvtapSupport>;

  constructor(sys: NetSys, log: Logger, opts: MacvtapOptions) {
    this.#sys = sys;
    this.#log = log;
    this.#nodeDir = opts.nodeDir;
    this.#probe = opts.probe ?? (() => probeMacvtap(sys));
  }

  /** Throws `FailedPrecondition` with the reason when this host cannot make macvtaps. */
  async check(): Promise<void> {
    const s = await this.#probe();
    if (!s.builtIn && s.modulesDisabled) {
      throw new RuntimeError(
        "FailedPrecondition",
        'Cannot use network model "macvtap": the kernel has no macvtap driver ("macvtap" is not in /proc/devices) and modules cannot be loaded (kernel parameter "nomodule")',
      );
    }
  }

  async attach(
    netns: string,
    opts: { sandbox: SandboxId; signal?: AbortSignal },
  ): Promise<MacvtapAttachment> {
    const sig = opts.signal ? { signal: opts.signal } : {};
    await this.check();
    await this.#sweep(netns, [], sig);
    return (await this.#reconcile(netns, { endpoints: [], devices: [] }, opts.sandbox, sig)).attachment;
  }

  /** Adds macvtaps for interfaces added to the netns since, and deletes those of interfaces gone. */
  rescan(
    netns: string,
    previous: NetworkAttachment,
    opts: { sandbox: SandboxId; signal?: AbortSignal },
  ): Promise<NetworkRescan<MacvtapAttachment>> {
    return this.#reconcile(netns, previous, opts.sandbox, opts.signal ? { signal: opts.signal } : {});
  }

  async #reconcile(
    netns: string,
    previous: NetworkAttachment,
    sandbox: SandboxId,
    sig: { signal?: AbortSignal },
  ): Promise<NetworkRescan<MacvtapAttachment>> {
    const log = this.#log.child({ sandbox, netns });
    const snap = await inspectNetns(this.#sys, netns, sig);
    const found = selectEndpoints(snap);
    const nodeOf = (name: string) => `${this.#nodeDir}/${sandbox}-${name}`;
    const want = new Set(found.map((ep) => cocoonLinkName("mvt", ep.ifindex)));
    const have = new Set(snap.links.filter((l) => OWN_RE.test(l.name)).map((l) => l.name));
    const stale = snap.links.filter((l) => OWN_RE.test(l.name) && !want.has(l.name));
    // A macvtap dies with its lower interface; its node stays until removed here.
    const removed = previous.devices.filter((d) => d.kind === "net" && !want.has(d.tap));
    const goneNodes = new Set([
      ...stale.map((l) => l.name),
      ...removed.flatMap((d) => d.kind === "net" ? [d.tap] : []),
    ]);
    await this.#remove(netns, stale.map((l) => l.name), [...goneNodes].map(nodeOf), sig);
    const endpoints: MacvtapEndpoint[] = [];
    const devices: Device[] = [];
    const added: Device[] = [];
    for (const ep of found) {
      const name = cocoonLinkName("mvt", ep.ifindex);
      const node = nodeOf(name);
      const device: Device = {
        kind: "net",
        id: deviceId(`net${ep.ifindex}`),
        tap: name,
        mac: ep.mac,
        mtu: ep.mtu,
      };
      try {
        if (!have.has(name)) await this.#createLink(netns, ep, name, sig);
        const m = await this.#makeNode(netns, name, node, sig);
        endpoints.push({ ...ep, macvtap: { name, charDevice: node, ...m } });
      } catch (e) {
        const undo = previous.devices.length === 0
          // On a first attach nothing of this sandbox may stay behind.
          ? this.#sweep(netns, found.map((f) => nodeOf(cocoonLinkName("mvt", f.ifindex))), {})
          : have.has(name)
          ? Promise.resolve()
          : this.#remove(netns, [name], [node], {});
        await undo.catch((err) =>
          log.error("rollback failed", {
            model: "macvtap",
            macvtap: name,
            error: toRuntimeError(err).message,
          })
        );
        throw e;
      }
      if (!have.has(name)) {
        added.push(device);
        log.info("endpoint attached", { model: "macvtap", endpoint: ep.name, macvtap: name, node });
      }
      devices.push(device);
    }
    return { attachment: { endpoints, devices }, added, removed };
  }

  async detach(netns: string, attachment: NetworkAttachment): Promise<void> {
    const nodes = attachment.endpoints.flatMap((ep) => {
      const m: unknown = Reflect.get(ep, "macvtap");
      const p: unknown = typeof m === "object" && m !== null ? Reflect.get(m, "charDevice") : undefined;
      return typeof p === "string" && p.startsWith(`${this.#nodeDir}/`) ? [p] : [];
    });
    const removed = await this.#sweep(netns, nodes, {});
    this.#log.info("detached", { model: "macvtap", netns, removed });
  }

  async #createLink(
    netns: string,
    ep: EndpointInfo,
    name: string,
    sig: { signal?: AbortSignal },
  ): Promise<void> {
    const what = `Cannot create macvtap "${name}" on "${ep.name}" in "${netns}"`;
    const ip = (args: string[]) => runInNetns(this.#sys, netns, "ip", args, { what, ...sig });
    await ip(["link", "add", "link", ep.name, "name", name, "type", "macvtap", "mode", "passthru"]);
    await ip(["link", "set", "dev", name, "mtu", String(ep.mtu)]);
    await ip(["link", "set", "dev", name, "up"]);
  }

  /** Reads the macvtap's device number from a private sysfs mount of the netns and makes the node. */
  async #makeNode(
    netns: string,
    name: string,
    node: string,
    sig: { signal?: AbortSignal },
  ): Promise<{ major: number; minor: number }> {
    const what = `Cannot make the device node of macvtap "${name}" in "${netns}"`;
    const out = await runInNetns(
      this.#sys,
      netns,
      "unshare",
      ["--mount", "--", "sh", "-c", SYSFS_SCRIPT, "sh", name],
      { what, ...sig },
    );
    const m = /^(\d+):(\d+)\s*$/.exec(out);
    if (m === null) {
      throw new RuntimeError("Internal", `${what}: unexpected device number "${out.trim().slice(0, 40)}"`);
    }
    const major = Number(m[1]);
    const minor = Number(m[2]);
    await runOnHost(this.#sys, "mkdir", ["-p", "-m", "0700", this.#nodeDir], { what, ...sig });
    await runOnHost(this.#sys, "rm", ["-f", node], { what, ...sig });
    await runOnHost(this.#sys, "mknod", ["-m", "0600", node, "c", String(major), String(minor)], {
      what,
      ...sig,
    });
    return { major, minor };
  }

  async #remove(
    netns: string,
    names: readonly string[],
    nodes: readonly string[],
    sig: { signal?: AbortSignal },
  ) {
    for (const n of names) {
      await runInNetns(this.#sys, netns, "ip", ["link", "del", "dev", n], {
        what: `Cannot delete "${n}" in "${netns}"`,
        ...sig,
      });
    }
    if (nodes.length > 0) {
      await runOnHost(this.#sys, "rm", ["-f", ...nodes], {
        what: "Cannot remove macvtap device nodes",
        ...sig,
      });
    }
  }

  async #sweep(netns: string, nodes: readonly string[], sig: { signal?: AbortSignal }): Promise<string[]> {
    const links = await listLinks(this.#sys, netns, sig);
    const removed = await deleteLinksMatching(this.#sys, netns, links, OWN_RE, sig);
    if (nodes.length > 0) {
      await runOnHost(this.#sys, "rm", ["-f", ...nodes], {
        what: "Cannot remove macvtap device nodes",
        ...sig,
      });
      removed.push(...nodes);
    }
    return removed;
  }
}
