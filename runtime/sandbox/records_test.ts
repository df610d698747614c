import assert from "node:assert/strict";
import { isRuntimeError } from "../errors.ts";
import { parseContainerIndex, parseContainerRecord, parseSandboxRecord } from "./records.ts";

const sandbox = {
  schema: 1,
  id: "sb1",
  createdAt: "t",
  status: { kind: "ready", startedAt: "t" },
  dir: "/run/cocoon/sandboxes/sb1",
  hypervisor: "qemu",
  vm: {
    id: "sb1",
    hypervisor: "qemu",
    pid: 42,
    stateDir: "/x/vm",
    qmpSocket: "/x/vm/qmp.sock",
    agent: { kind: "unix", path: "/x/vm/agent.sock" },
    extra: { accel: "tcg" },
  },
  vcpus: 1,
  memoryMiB: 512,
  agentTimeoutSeconds: 45,
  network: {
    plugin: "tcfilter",
    netns: "/var/run/netns/x",
    attachment: {
      endpoints: [{ name: "eth0", mac: "02:00:00:00:00:01", mtu: 1500, addresses: ["10.0.0.2/24"] }],
      devices: [{ kind: "net", id: "tap0", tap: "tap0_cocoon", mac: "02:00:00:00:00:01", mtu: 1500 }],
    },
  },
  prepared: [{
    plugin: "9p",
    devices: [{ kind: "share-fs", id: "shared", tag: "cocoon-shared", source: "/x/shared", transport: "9p" }],
    storages: [{
      driver: "9p",
      source: "cocoon-shared",
      fstype: "9p",
      options: ["msize=262144"],
      mountPoint: "/run/cocoon/shared",
      devices: [],
    }],
    state: { hostDir: "/x/shared" },
  }],
  annotations: { a: "b" },
};

Deno.test({
  name: "parseSandboxRecord() round-trips a JSON record",
  permissions: "none",
  fn() {
    const r = parseSandboxRecord(JSON.parse(JSON.stringify(sandbox)), "sandbox");
    assert.deepEqual(JSON.parse(JSON.stringify(r)), sandbox);
  },
});

Deno.test({
  name: "parseSandboxRecord() reports DataLoss with the path of a malformed field",
  permissions: "none",
  fn() {
    const bad = { ...sandbox, status: { kind: "ready" } };
    assert.throws(() => parseSandboxRecord(bad, 'sandbox "sb1"'), (e) => {
      assert.ok(isRuntimeError(e));
      assert.equal(e.code, "DataLoss");
      assert.match(e.message, /Cannot read sandbox "sb1": the stored record is malformed at "status/);
      return true;
    });
    assert.throws(() => parseSandboxRecord({ ...sandbox, id: "../x" }, "s"), /Invalid sandbox id/);
  },
});

Deno.test({
  name: "parseContainerRecord() validates statuses, storages and execs",
  permissions: "none",
  fn() {
    const c = {
      schema: 1,
      id: "c1",
      sandboxId: "sb1",
      createdAt: "t",
      status: { kind: "stopped", pid: 7, exitStatus: 137, exitedAt: "t" },
      bundle: null,
      rootfs: "/r",
      terminal: false,
      storages: [{
        plugin: "9p",
        storage: {
          driver: "shared",
          source: "/g",
          fstype: "none",
          options: [],
          mountPoint: "/g",
          devices: [],
        },
      }],
      execs: {
        e1: { id: "e1", terminal: false, status: { kind: "exited", pid: 9, exitStatus: 0, exitedAt: "t" } },
      },
      annotations: {},
    };
    assert.deepEqual(parseContainerRecord(c, "c"), c);
    assert.throws(
      () => parseContainerRecord({ ...c, status: { ...c.status, exitStatus: 300 } }, "c"),
      /malformed/,
    );
    assert.equal(parseContainerIndex({ schema: 1, sandboxId: "sb1" }, "i").sandboxId, "sb1");
  },
});

Deno.test({
  name: "a stored record with a bad id or MAC is DataLoss (damaged data), not the caller's InvalidArgument",
  permissions: "none",
  fn() {
    for (
      const bad of [{ ...sandbox, id: "../x" }, {
        ...sandbox,
        network: {
          ...sandbox.network,
          attachment: {
            ...sandbox.network.attachment,
            endpoints: [{ ...sandbox.network.attachment.endpoints[0], mac: "zz" }],
          },
        },
      }]
    ) {
      assert.throws(
        () => parseSandboxRecord(bad, "sandbox sb1"),
        (e: unknown) => isRuntimeError(e) && e.code === "DataLoss" && /sandbox sb1/.test(e.message),
      );
    }
  },
});
