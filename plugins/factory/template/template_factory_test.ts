import assert from "node:assert/strict";
import { HypervisorError } from "../../../runtime/errors.ts";
import { deviceId, macAddress, sandboxId } from "../../../runtime/ids.ts";
import { createLogger } from "../../../runtime/log/logger.ts";
import type { AttachedDevice, Device, FactoryOptions, Hypervisor, Vm, VmConfig } from "../../types.ts";
import { manifest } from "./manifest.ts";
import { createTemplateFactory } from "./template_factory.ts";

const log = createLogger({ sink: { write: () => {} }, level: "error" });

/** A recording stand-in for the hypervisor: no QEMU; saveTemplate writes a state file. */
function fakeHypervisor(events: string[], opts: { failHotplug?: boolean } = {}): Hypervisor {
  const vmOf = (config: VmConfig): Vm => ({
    id: config.id,
    start: () =>
      Promise.resolve(void events.push(`start ${config.memoryTemplate?.kind ?? "cold"} ${config.id}`)),
    stop: () => Promise.resolve(void events.push(`stop ${config.id}`)),
    pause: () => Promise.resolve(),
    resume: () => Promise.resolve(),
    wait: () => new Promise(() => {}),
    addDevice: (d: Device): Promise<AttachedDevice> => {
      events.push(`hotplug ${d.id} ${config.id}`);
      return opts.failHotplug
        ? Promise.reject(new HypervisorError("Internal", "no slot"))
        : Promise.resolve({ device: d });
    },
    removeDevice: () => Promise.resolve(),
    agentAddress: () => ({ kind: "unix", path: `${config.stateDir}/agent.sock` }),
    pids: () => [],
    saveState: () => ({
      id: config.id,
      hypervisor: "fake",
      pid: 1,
      stateDir: config.stateDir,
      agent: { kind: "unix", path: "" },
    }),
    saveTemplate: async (stateFile: string) => {
      events.push(`save ${config.id}`);
      await Deno.writeTextFile(stateFile, "device state");
    },
    [Symbol.asyncDispose]: () => Promise.resolve(),
  });
  return {
    capabilities: () => ({
      blockHotplug: true,
      netHotplug: true,
      sharedFs: ["9p"],
      vsock: false,
      pause: true,
      template: true,
    }),
    check: () => Promise.resolve(),
    createVm: (c: VmConfig) => {
      events.push(`create ${c.id} ${c.devices.map((d) => d.id).join(",")}`);
      return Promise.resolve(vmOf(c));
    },
    attachVm: () => Promise.reject(new Error("unused")),
    identity: () => Promise.resolve("fake-hypervisor 1.0"),
  };
}

function vmConfig(dir: string, id: string): VmConfig {
  return {
    id: sandboxId(id),
    stateDir: `${dir}/${id}/vm`,
    kernel: `${dir}/vmlinuz`,
    kernelParams: [`cocoon.hostname=${id}`],
    vcpus: 1,
    maxVcpus: 1,
    memoryMiB: 64,
    maxMemoryMiB: 64,
    devices: [
      {
        kind: "share-fs",
        id: deviceId("shared"),
        tag: "cocoon-shared",
        source: `${dir}/${id}/shared`,
        transport: "9p",
      },
      { kind: "net", id: deviceId("eth0"), tap: "tap0", mac: macAddress("02:00:00:00:00:01"), mtu: 1500 },
    ],
    accelerator: "tcg",
    agentChannel: "virtio-serial",
    consoleLog: `${dir}/${id}/console.log`,
  };
}

const rootOnly = Deno.uid() !== 0; // the template directory is a tmpfs mount

Deno.test({
  name:
    "template factory getVm() builds the template once, then clones, hot-plugs NICs and sets up each clone",
  ignore: rootOnly,
  permissions: { ...manifest.permissions, read: true, write: true },
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-tf-" });
    const events: string[] = [];
    const f = createTemplateFactory({ root: `${dir}/tmpl`, log });
    const opts: FactoryOptions = {
      hypervisor: fakeHypervisor(events),
      probeAgent: () => Promise.resolve({ close: () => void events.push("agent closed") }),
      setupClone: (vm, o) => Promise.resolve(void events.push(`setup ${vm.id} ${o.hostname}`)),
      agentTimeoutMs: 1000,
    };
    await Deno.writeTextFile(`${dir}/vmlinuz`, "kernel");
    try {
      const a = await f.getVm(vmConfig(dir, "a"), { ...opts, hostname: "a" });
      assert.equal(a.origin, "template");
      const b = await f.getVm(vmConfig(dir, "b"), { ...opts, hostname: "b" });
      const tmpl = events.find((e) => e.startsWith("create tmpl-"))?.split(" ")[1];
      assert.deepEqual(events, [
        `create ${tmpl} shared`,
        `start template ${tmpl}`,
        "agent closed",
        `save ${tmpl}`,
        `stop ${tmpl}`,
        "create a shared",
        "start clone a",
        "hotplug eth0 a",
        "setup a a",
        "create b shared",
        "start clone b",
        "hotplug eth0 b",
        "setup b b",
      ]);
      assert.equal(b.vm.id, "b");
      const st = await f.status();
      assert.equal(st.items.length, 1);
      assert.equal(st.items[0]?.state, "ready");
      await f.destroy();
      assert.deepEqual((await f.status()).items, []);
    } finally {
      await f.destroy().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "template factory getVm() stops the clone when a hotplug fails, and a changed kernel gives a new template",
  ignore: rootOnly,
  permissions: { ...manifest.permissions, read: true, write: true },
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-tf-" });
    const events: string[] = [];
    const f = createTemplateFactory({ root: `${dir}/tmpl`, log });
    const opts: FactoryOptions = {
      hypervisor: fakeHypervisor(events, { failHotplug: true }),
      probeAgent: () => Promise.resolve({ close: () => {} }),
      agentTimeoutMs: 1000,
    };
    await Deno.writeTextFile(`${dir}/vmlinuz`, "kernel");
    try {
      await assert.rejects(f.getVm(vmConfig(dir, "a"), { ...opts, hostname: "a" }), /no slot/);
      assert.equal(events.at(-1), "stop a");
      await Deno.writeTextFile(`${dir}/vmlinuz`, "kernel, rebuilt");
      await f.init(vmConfig(dir, "a"), opts);
      assert.equal((await f.status()).items.length, 2);
    } finally {
      await f.destroy().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
