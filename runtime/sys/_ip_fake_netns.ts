/**
 * A scripted netns for unit tests of the network plugins: answers the `ip -json`/`tc -json` reads
 * with a small model (links, qdiscs, filter prefs) that the recorded `ip`/`tc` writes update, so
 * attach/detach sequences can be asserted command by command.
 *
 * @module
 */
import assert from "node:assert/strict";
import { isRuntimeError } from "../errors.ts";
import type { NetCommandResult } from "./ip_command.ts";
import { RecordingNetSys } from "./_ip_fake.ts";

export interface FakeLink {
  ifindex: number;
  ifname: string;
  kind: string;
  address: string;
  mtu: number;
  master?: string;
  ifalias?: string;
  /** Set for a physical NIC, as `ip -d -json link show` prints it ("pci", "0000:3b:02.1"). */
  parentbus?: string;
  parentdev?: string;
}

/** Builds a {@link RecordingNetSys} over a model netns holding `eth0` (veth) and `lo`. */
export function fakeNetns(
  opts: {
    failOn?: (cmd: string) => boolean;
    extraLinks?: FakeLink[];
    /** Answers a command first (the `nsenter` prefix removed); `undefined` falls through to the model. */
    respond?: (cmd: string) => Partial<NetCommandResult> | undefined;
  } = {},
): RecordingNetSys {
  const links: FakeLink[] = [
    { ifindex: 1, ifname: "lo", kind: "", address: "00:00:00:00:00:00", mtu: 65536 },
    { ifindex: 3, ifname: "eth0", kind: "veth", address: "0a:58:0a:f4:00:05", mtu: 1450 },
    ...(opts.extraLinks ?? []),
  ];
  const ingress = new Set<string>();
  const prefs = new Map<string, number[]>();
  let next = 10;
  return new RecordingNetSys((argv) => {
    const inner = argv[0] === "nsenter" ? argv.slice(3) : [...argv];
    const line = inner.join(" ");
    if (opts.failOn?.(line)) return { code: 2, stderr: "RTNETLINK answers: injected failure" };
    const answer = opts.respond?.(line);
    if (answer !== undefined) return answer;
    const [cmd, ...a] = inner;
    if (cmd === "ip" && line === "ip -d -json link show") {
      return {
        stdout: JSON.stringify(links.map((l) => ({
          ifindex: l.ifindex,
          ifname: l.ifname,
          flags: ["UP"],
          mtu: l.mtu,
          link_type: l.ifname === "lo" ? "loopback" : "ether",
          address: l.address,
          ...(l.kind ? { linkinfo: { info_kind: l.kind } } : {}),
          ...(l.master ? { master: l.master } : {}),
          ...(l.ifalias ? { ifalias: l.ifalias } : {}),
          ...(l.parentbus ? { parentbus: l.parentbus } : {}),
          ...(l.parentdev ? { parentdev: l.parentdev } : {}),
        }))),
      };
    }
    if (line === "ip -json addr show") {
      return {
        stdout: JSON.stringify([{
          ifname: "eth0",
          addr_info: [
            { family: "inet", local: "10.244.0.5", prefixlen: 24, scope: "global" },
            { family: "inet6", local: "fe80::858:aff:fef4:5", prefixlen: 64, scope: "link" },
          ],
        }]),
      };
    }
    if (line === "ip -4 -json route show") {
      return {
        stdout: JSON.stringify([
          { dst: "default", gateway: "10.244.0.1", dev: "eth0", flags: [] },
          { dst: "10.244.0.0/24", dev: "eth0", protocol: "kernel", scope: "link", prefsrc: "10.244.0.5" },
        ]),
      };
    }
    if (line === "ip -6 -json route show") return { stdout: "[]" };
    if (line.startsWith("ip -json neigh show")) return { stdout: "[]" };
    if (cmd === "ip" && a[0] === "tuntap" && a[1] === "add") {
      links.push({
        ifindex: next++,
        ifname: a[3] ?? "",
        kind: "tun",
        address: "aa:aa:aa:aa:aa:aa",
        mtu: 1500,
      });
    } else if (cmd === "ip" && a[0] === "link" && a[1] === "add") {
      const kind = a[a.indexOf("type") + 1] ?? "";
      links.push({
        ifindex: next++,
        ifname: a[a.indexOf("name") + 1] ?? "",
        kind,
        address: "bb:bb:bb:bb:bb:bb",
        mtu: 1500,
      });
    } else if (cmd === "ip" && a[0] === "link" && a[1] === "del") {
      const i = links.findIndex((l) => l.ifname === a[3]);
      if (i >= 0) links.splice(i, 1);
      ingress.delete(a[3] ?? "");
      prefs.delete(a[3] ?? "");
    } else if (cmd === "ip" && a[0] === "link" && a[1] === "set") {
      const l = links.find((x) => x.ifname === a[3]);
      const at = (k: string) => a.indexOf(k) >= 0 ? a[a.indexOf(k) + 1] : undefined;
      if (l && at("master") !== undefined) l.master = at("master") ?? "";
      if (l && a.includes("nomaster")) delete l.master;
      if (l && at("address") !== undefined) l.address = at("address") ?? "";
      if (l && at("alias") !== undefined) {
        const v = at("alias") ?? "";
        if (v === "") delete l.ifalias;
        else l.ifalias = v;
      }
    } else if (cmd === "tc" && a[0] === "-json" && a[1] === "qdisc") {
      return {
        stdout: JSON.stringify(ingress.has(a[4] ?? "") ? [{ kind: "ingress", handle: "ffff:" }] : []),
      };
    } else if (cmd === "tc" && a[0] === "-json" && a[1] === "filter") {
      return { stdout: JSON.stringify((prefs.get(a[4] ?? "") ?? []).map((pref) => ({ pref, kind: "u32" }))) };
    } else if (cmd === "tc" && a[0] === "qdisc") {
      if (a[1] === "add") ingress.add(a[3] ?? "");
      else ingress.delete(a[3] ?? "");
    } else if (cmd === "tc" && a[0] === "filter") {
      const dev = a[3] ?? "";
      const pref = Number(a[a.indexOf("pref") + 1]);
      if (a[1] === "add") prefs.set(dev, [...(prefs.get(dev) ?? []), pref]);
      else prefs.set(dev, (prefs.get(dev) ?? []).filter((p) => p !== pref));
    }
    return undefined;
  });
}

/** The commands (first word, and the wrapped command of `nsenter`) a recorded run used. */
export function commandsUsed(calls: readonly string[]): Set<string> {
  const used = new Set<string>();
  for (const c of calls) {
    const w = c.split(" ");
    used.add(w[0] ?? "");
    if (w[0] === "nsenter") used.add(w[3] ?? "");
  }
  return used;
}

/** A physical NIC (a PCI parent device) that a pod's netns must not hand to a VM model but vfio. */
export const PHYSICAL_NIC: FakeLink = {
  ifindex: 5,
  ifname: "ens5",
  kind: "",
  address: "52:54:00:12:34:56",
  mtu: 1500,
  parentbus: "pci",
  parentdev: "0000:00:05.0",
};

/** Asserts that `e` is the refusal of {@link PHYSICAL_NIC} in netns `ns` (for `assert.rejects`). */
export function refusesPhysicalNic(ns: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(isRuntimeError(e));
    assert.equal(e.code, "FailedPrecondition");
    assert.equal(
      e.message,
      `Cannot connect interface "ens5" of network namespace "${ns}" to the VM as it is a physical device (parentbus "pci", parentdev "0000:00:05.0"): use the vfio network model for physical NICs, or have the CNI plugin create a veth`,
    );
    return true;
  };
}
