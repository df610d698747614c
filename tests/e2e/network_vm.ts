/**
 * Helpers of the network end-to-end tests: start the test guest under QEMU (TCG) inside a pod
 * netns with the NIC a network plugin returned, wait for console lines, run commands in the peer
 * netns, and a minimal QMP client for hot-plug.
 *
 * How QEMU gets the NIC here is what the sandbox core must do:
 * - tcfilter, bridge: QEMU runs inside the pod netns (`nsenter --net=<netns> -- qemu-system-x86_64
 *   ...`) and opens the persistent tap by name: `-netdev tap,ifname=<tap>,script=no,downscript=no,
 *   vhost=off`.
 * - macvtap: the macvtap character-device node the plugin made is opened read-write on fd 3 by the
 *   spawning shell and QEMU uses `-netdev tap,fd=3,vhost=off`.
 *
 * @module
 */
import { hostNetSys } from "../../runtime/sys/ip_command.ts";
import type { Device } from "../../plugins/types.ts";
import type { NetTestGuest } from "./network_guest.ts";

const sys = hostNetSys();

/** Polls a console log until a line contains `text`; returns that line. */
export async function waitForLine(path: string, text: string, timeoutMs: number): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const log = await Deno.readTextFile(path).catch(() => "");
    // whole lines only: the guest may be half-way through writing the last one (a partial
    // "NET_GUEST_READY " without its address failed a CI run)
    const line = log.split("\n").slice(0, -1).find((l) => l.includes(text));
    if (line !== undefined) return line;
    if (Date.now() > end) {
      throw new Error(`"${text}" not in the console after ${timeoutMs} ms:\n${log.slice(-1500)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Runs a command in another netns (30 s limit). */
export async function inNetns(netns: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  const r = await sys.run("nsenter", [`--net=${netns}`, "--", ...args], {
    signal: AbortSignal.timeout(30_000),
  });
  return { ok: r.code === 0, out: r.stdout + r.stderr };
}

export interface GuestVm extends AsyncDisposable {
  readonly consoleLog: string;
  readonly qmpSocket: string;
}

/**
 * Starts the test guest in `netns` with `nic` as its first NIC. `charDevice` (macvtap) is opened
 * on fd 3 instead of naming the tap. One free PCIe root port (`rp1`) is kept for hot-plug.
 */
export function startGuestVm(
  p: {
    netns: string;
    dir: string;
    guest: NetTestGuest;
    nic: Extract<Device, { kind: "net" }>;
    cmdline: string;
    charDevice?: string;
  },
): GuestVm {
  const consoleLog = `${p.dir}/console.log`;
  const qmpSocket = `${p.dir}/qmp.sock`;
  const netdev = p.charDevice !== undefined
    ? "tap,id=n0,fd=3,vhost=off"
    : `tap,id=n0,ifname=${p.nic.tap},script=no,downscript=no,vhost=off`;
  // deno-fmt-ignore
  const qemu = ["qemu-system-x86_64", "-accel", "tcg,thread=multi", "-M", "q35", "-m", "256", "-smp", "1",
    "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
    "-serial", `file:${consoleLog}`, "-qmp", `unix:${qmpSocket},server=on,wait=off`,
    "-kernel", p.guest.kernel, "-initrd", p.guest.initrd, "-append", `console=ttyS0 panic=-1 quiet ${p.cmdline}`,
    "-netdev", netdev, "-device", `virtio-net-pci,netdev=n0,mac=${p.nic.mac},host_mtu=${p.nic.mtu}`,
    "-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1"];
  const args = p.charDevice !== undefined
    ? ["--", "sh", "-c", 'node=$1; shift; exec "$@" 3<>"$node"', "sh", p.charDevice, ...qemu]
    : ["--", ...qemu];
  const child = new Deno.Command("nsenter", {
    args: [`--net=${p.netns}`, ...args],
    stdout: "null",
    stderr: "null",
  })
    .spawn();
  return {
    consoleLog,
    qmpSocket,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL"); // as after a crash: the network plugin must clean up regardless
      } catch { /* exited */ }
      await child.status;
    },
  };
}

/** Runs QMP commands on `socket` in order; returns their results (throws on a QMP error). */
export async function qmp(
  socket: string,
  commands: { execute: string; arguments?: unknown }[],
): Promise<unknown[]> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  let buf = "";
  const chunk = new Uint8Array(4096);
  const next = async (): Promise<Record<string, unknown>> => {
    for (;;) {
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const msg: unknown = JSON.parse(line);
        if (typeof msg === "object" && msg !== null && !("event" in msg)) {
          return Object.fromEntries(Object.entries(msg));
        }
        continue;
      }
      const n = await conn.read(chunk);
      if (n === null) throw new Error("QMP closed");
      buf += dec.decode(chunk.subarray(0, n));
    }
  };
  try {
    await next(); // greeting
    const out: unknown[] = [];
    for (const c of [{ execute: "qmp_capabilities" }, ...commands]) {
      await conn.write(enc.encode(JSON.stringify(c) + "\n"));
      const r = await next();
      if ("error" in r) throw new Error(`QMP ${c.execute} failed: ${JSON.stringify(r["error"])}`);
      out.push(r["return"]);
    }
    return out.slice(1);
  } finally {
    conn.close();
  }
}
