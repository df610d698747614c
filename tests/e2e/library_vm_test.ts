/**
 * The library API on real QEMU (TCG here) with the default guest image, driven through mod.ts
 * only: createSandbox from a configuration file, two busybox containers (one exits 3 with output,
 * one stays up), exec with env, pause and resume, a raw image file hot-plugged and seen in the
 * guest's /sys/block, stdin through ioStream, a signal to an exec, a NIC hot-plugged on a tap the
 * library makes (the guest's new interface answers TCP from the host), a route through it, a second
 * NIC, the first unplugged (tap removed), release, then a SECOND PROCESS (tests/e2e/library_peer.ts, which
 * imports only mod.ts) fetches the sandbox, runs a process in it and deletes it. Nothing is left:
 * no QEMU, mount, socket, state directory or tap.
 *
 * Skipped unless RUNTIME_E2E=1 (or COCOON_E2E=1) and the host can boot guests.
 */
import assert from "node:assert/strict";
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { createSandbox, type Sandbox, type SandboxEvent } from "../../mod.ts";
import { tapPrefix } from "../../runtime/sandbox/hotplug.ts";
import { ensureGuestImage } from "../utils/guest.ts";
import { hostCanBoot, mountsUnder, qemuPids, scrub, socketsUnder } from "./sandbox_util.ts";
import { installedLibrary } from "../utils/program.ts";

const enabled = (Deno.env.get("RUNTIME_E2E") === "1" || Deno.env.get("COCOON_E2E") === "1") &&
  await hostCanBoot();

const dec = new TextDecoder();

async function sh(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

/**
 * Runs `args` in `container` and returns [stdout, exit status]. The process first sleeps a second:
 * the agent loses the exit of an exec'd process that ends before it starts watching it (its orphan
 * sweep reaps it first: "Cannot reap pid N: it is not a child of the agent").
 */
async function run(sb: Sandbox, container: string, args: string[], env?: Record<string, string>) {
  const p = await sb.enterContainer(container, {
    args: ["sh", "-c", 'sleep 1; exec "$@"', "sh", ...args],
    ...(env ? { env } : {}),
  });
  const out = new Response(p.io.stdout).text();
  return [await out, await p.wait()] as const;
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  while (true) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

Deno.test({
  name:
    "mod.ts on real QEMU: two containers, exec, pause/resume, disk and NIC hot-plug, fetch + delete from a second process",
  ignore: !enabled,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const image = await ensureGuestImage();
    const dir = await Deno.makeTempDir({ prefix: "cocoon-lib-e2e-" });
    const id = `lib-${crypto.randomUUID().slice(0, 8)}`;
    const configPath = `${dir}/configuration.toml`;
    const prefix = tapPrefix(id);
    let sb: Sandbox | undefined;
    try {
      await Deno.writeTextFile(
        configPath,
        [
          "[hypervisor.qemu]",
          `kernel = ${JSON.stringify(image.kernel)}`,
          `initrd = ${JSON.stringify(image.initrd)}`,
          `image = ${JSON.stringify(image.rootfs ?? "")}`,
          `accelerator = "${Deno.env.get("COCOON_TEST_ACCEL") === "kvm" ? "kvm" : "tcg"}"`,
          "default_maxmemory = 1024",
          "default_maxvcpus = 2",
          'shared_fs = "virtio-9p"',
          "[runtime]",
          `state_dir = ${JSON.stringify(`${dir}/run`)}`,
          'store = "fs"',
          'internetworking_model = "none"',
          "[agent]",
          "dial_timeout = 90",
          "",
        ].join("\n"),
      );
      const rootfs = await makeBusyboxRootfs(dir);
      const t0 = performance.now();
      sb = await createSandbox({ id, configPath, vcpus: 1, memoryMiB: 512 });
      const readyMs = Math.round(performance.now() - t0);
      const st = await sb.status();
      assert.deepEqual([st.state.kind, st.vcpus, st.memoryMiB], ["ready", 1, 512]);
      assert.equal((await qemuPids(id)).length, 1);

      const events: SandboxEvent[] = [];
      const stopMonitor = new AbortController();
      const monitoring = (async () => {
        for await (const e of sb.monitor({ signal: stopMonitor.signal })) events.push(e);
      })();

      // Two containers: one runs to completion, one stays up.
      await sb.createContainer({ id: `${id}-a`, rootfs, args: ["sleep", "600"] });
      await sb.createContainer({ id: `${id}-b`, rootfs, args: ["sh", "-c", "echo hi from b; exit 3"] });
      await sb.startContainer(`${id}-a`);
      const b = await sb.startContainer(`${id}-b`);
      const bOut = new Response(b.io.stdout).text();
      assert.equal(await b.wait(), 3);
      assert.equal(await bOut, "hi from b\n");
      assert.equal((await sb.statusContainer(`${id}-b`)).state.kind, "stopped");

      assert.deepEqual(await run(sb, `${id}-a`, ["sh", "-c", "echo exec-$GREETING"], { GREETING: "ok" }), [
        "exec-ok\n",
        0,
      ]);

      // Pause and resume the whole VM; a process runs afterwards.
      await sb.pause();
      assert.equal((await sb.status()).state.kind, "paused");
      await sb.resume();
      assert.equal((await sb.status()).state.kind, "ready");
      assert.deepEqual(await run(sb, `${id}-a`, ["echo", "after-resume"]), ["after-resume\n", 0]);

      // Relay: stdin through the Web Streams of ioStream, and a signal to an exec'd process.
      const cat = await sb.enterContainer(`${id}-a`, { args: ["sh", "-c", "sleep 1; cat"], stdin: true });
      const catIo = sb.ioStream(`${id}-a`, cat.id);
      const echoed = new Response(catIo.stdout).text();
      const w = catIo.stdin.getWriter();
      await w.write(new TextEncoder().encode("through stdin\n"));
      await w.close();
      assert.equal(await sb.waitProcess(`${id}-a`, cat.id), 0);
      assert.equal(await echoed, "through stdin\n");
      const sleeper = await sb.enterContainer(`${id}-a`, { args: ["sleep", "600"] });
      await sb.signalProcess(`${id}-a`, sleeper.id, "TERM");
      assert.equal(await sleeper.wait(), 143);

      // Block hot-plug: a raw image file appears in the guest's /sys/block.
      const disks = async () =>
        (await run(sb!, `${id}-a`, ["ls", "/sys/block"]))[0].split(/\s+/).filter(Boolean);
      const before = await disks();
      const img = `${dir}/data.img`;
      await Deno.writeFile(img, new Uint8Array(8 * 1024 * 1024));
      const dev = await sb.addDevice({ kind: "block", path: img, id: "data" });
      assert.equal(dev.driver, "virtio-blk");
      assert.ok(dev.guestAddress, "a PCI address");
      const added = await until("the disk in the guest", 30_000, async () => {
        const now = await disks();
        const n = now.filter((d) => !before.includes(d));
        return n.length > 0 ? n : undefined;
      });
      assert.equal(added.length, 1);
      assert.match(added[0]!, /^vd[a-z]+$/);
      const size = await run(sb, `${id}-a`, ["cat", `/sys/block/${added[0]}/size`]);
      assert.equal(size[0].trim(), String((8 * 1024 * 1024) / 512));

      // NIC hot-plug on a tap the library makes; the host reaches the guest's address over it.
      const nic = await sb.addInterface({ name: "eth1", addresses: ["10.231.77.2/30"], mtu: 1400 });
      assert.deepEqual([nic.name, nic.mtu, nic.up], ["eth1", 1400, true]);
      const eth1 = (await sb.listInterfaces()).find((i) => i.name === "eth1");
      assert.deepEqual(eth1?.addresses.filter((a) => a.family === 4).map((a) => `${a.address}/${a.prefix}`), [
        "10.231.77.2/30",
      ]);
      const tap = (await sh("ip", ["-o", "link", "show"])).out.split("\n")
        .map((l) => /^\d+:\s*([^:@\s]+)/.exec(l)?.[1]).find((n) => n?.startsWith(prefix));
      assert.ok(tap, "the library made a tap");
      assert.equal((await sh("ip", ["addr", "add", "10.231.77.1/30", "dev", tap])).code, 0);
      // A TCP connect to a closed port is refused by the guest kernel: its IP stack answered.
      const probe = await sh("socat", ["-u", "/dev/null", "TCP:10.231.77.2:9,connect-timeout=10"]);
      assert.match(probe.out, /Connection refused/, probe.out);

      // Routes through the new interface.
      const extra = {
        destination: "10.232.0.0/16",
        gateway: "10.231.77.1",
        device: "eth1",
        family: 4,
      } as const;
      // (IPv4 only: the agent lists IPv6 multicast routes as destination "multicast", which
      // UpdateRoutes refuses; the table of a family absent from the list is left as it is.)
      await sb.updateRoutes([...(await sb.listRoutes()).filter((r) => r.family === 4), extra]);
      assert.ok(
        (await sb.listRoutes()).some((r) =>
          r.destination === extra.destination && r.gateway === extra.gateway
        ),
      );

      // A second NIC stays for the second process's delete; the first is unplugged here.
      await sb.addInterface({ name: "eth2", addresses: ["10.231.78.2/30"] });
      await sb.removeInterface("eth1");
      const names = (await sb.listInterfaces()).map((i) => i.name);
      assert.ok(!names.includes("eth1") && names.includes("eth2"), names.join(","));
      assert.equal((await sh("ip", ["link", "show", tap])).code, 1, "the library removed the tap of eth1");

      stopMonitor.abort();
      await monitoring;
      assert.ok(
        events.some((e) => e.kind === "exit" && e.containerId === `${id}-b` && e.exitStatus === 3),
        JSON.stringify(events),
      );

      // Release: the VM keeps running for another process.
      const pids = await qemuPids(id);
      await sb.release();
      sb = undefined;
      assert.deepEqual(await qemuPids(id), pids);

      // The peer is a program outside this checkout that imports the installed library, as the
      // README shows: its own directory, no deno.json, the import naming PREFIX/lib/cocoon/mod.js.
      const peerDir = await Deno.makeTempDir({ prefix: "cocoon-lib-user-" });
      const peerSrc = (await Deno.readTextFile(new URL("./library_peer.ts", import.meta.url)))
        .replace('from "../../mod.ts"', `from "${installedLibrary()}"`);
      await Deno.writeTextFile(`${peerDir}/peer.ts`, peerSrc);
      const peer = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-config", "--no-lock", `${peerDir}/peer.ts`, configPath, id, `${id}-a`],
        cwd: peerDir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      await Deno.remove(peerDir, { recursive: true });
      const peerErr = dec.decode(peer.stderr);
      assert.equal(peer.code, 0, peerErr);
      const seen = JSON.parse(dec.decode(peer.stdout).trim().split("\n").pop() ?? "{}");
      assert.deepEqual(
        { ...seen, pids: undefined },
        {
          state: "ready",
          pids: undefined,
          containers: [`${id}-a:running`, `${id}-b:stopped`],
          out: "from-peer\n",
          exit: 0,
          devices: ["data"],
          interfaces: seen.interfaces,
          deleted: true,
        },
      );
      assert.deepEqual(seen.pids, pids);
      assert.ok(seen.interfaces.includes("eth2"), seen.interfaces.join(","));

      // Nothing left behind.
      assert.deepEqual(await qemuPids(id), []);
      assert.deepEqual(await mountsUnder(dir), []);
      assert.deepEqual(await socketsUnder(`${dir}/run`), []);
      await assert.rejects(Deno.stat(`${dir}/run/sandboxes/${id}`), Deno.errors.NotFound);
      assert.equal((await sh("ip", ["-o", "link", "show"])).out.includes(prefix), false);
      await Deno.stderr.write(new TextEncoder().encode(`library e2e: sandbox ready in ${readyMs} ms\n`));
    } finally {
      if (sb !== undefined) await sb.delete({ force: true }).catch(() => {});
      await scrub(dir, id);
      for (const l of (await sh("ip", ["-o", "link", "show"])).out.split("\n")) {
        const n = /^\d+:\s*([^:@\s]+)/.exec(l)?.[1];
        if (n?.startsWith(prefix)) await sh("ip", ["link", "del", n]);
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
