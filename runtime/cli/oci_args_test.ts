import assert from "node:assert/strict";
import { containerId, sandboxId } from "../ids.ts";
import { ociPaths } from "../holder/paths.ts";
import type { ContainerRecord } from "../sandbox/mod.ts";
import { type ContainerView, idArg, parseVerb, splitAtCommand, viewState } from "./oci_args.ts";

const record = (status: ContainerRecord["status"]): ContainerRecord => ({
  schema: 1,
  id: containerId("c1"),
  sandboxId: sandboxId("c1"),
  createdAt: "2026-01-01T00:00:00.000Z",
  status,
  bundle: "/b",
  rootfs: "/b/rootfs",
  terminal: false,
  storages: [],
  execs: {},
  annotations: { a: "b" },
});

const view = (o: Partial<ContainerView>): ContainerView => ({
  id: containerId("c1"),
  paths: ociPaths("/run/cocoon", containerId("c1")),
  info: null,
  alive: false,
  record: null,
  ...o,
});
const info = { pid: 4242, startTime: "1", socket: "/s", bundle: "/b", createdAt: "2026-01-02T00:00:00.000Z" };

Deno.test({
  name: "viewState() reports the record's status and the holder pid while the holder lives",
  permissions: "none",
  fn() {
    const s = viewState(
      view({ info, alive: true, record: record({ kind: "running", pid: 7, startedAt: "x" }) }),
    );
    assert.deepEqual(s, {
      ociVersion: "1.0.2",
      id: "c1",
      status: "running",
      pid: 4242,
      bundle: "/b",
      annotations: { a: "b" },
      created: "2026-01-02T00:00:00.000Z",
    });
    const c = viewState(view({ info, alive: true, record: record({ kind: "created", pid: 7 }) }));
    assert.equal(c.status, "created");
  },
});

Deno.test({
  name: "viewState() says stopped with pid 0 when the holder is gone, whatever the record says",
  permissions: "none",
  fn() {
    const s = viewState(
      view({ info, alive: false, record: record({ kind: "running", pid: 7, startedAt: "x" }) }),
    );
    assert.equal(s.status, "stopped");
    assert.equal(s.pid, 0);
    // no holder.json yet and no record: a create in progress
    assert.equal(viewState(view({})).status, "creating");
  },
});

Deno.test({
  name: "idArg() refuses a missing and a path-traversing container id; parseVerb() words unknown flags",
  permissions: "none",
  fn() {
    assert.equal(idArg("state", ["c1"]), "c1");
    assert.throws(() => idArg("state", []), /a container id is required/);
    assert.throws(() => idArg("state", ["../etc"]), /Invalid container id "\.\.\/etc"/);
    assert.throws(() => idArg("state", ["a/b"]), /Invalid container id/);
    assert.throws(() => parseVerb("kill", ["--bogus"], {}), /Invalid arguments for "kill": .*bogus/);
    const { values, positionals } = parseVerb("kill", ["--all", "c1", "9"], {
      all: { type: "boolean", short: "a" },
    });
    assert.equal(values.all, true);
    assert.deepEqual(positionals, ["c1", "9"]);
  },
});

Deno.test({
  name: "splitAtCommand() stops reading flags at the container id, as runc does",
  permissions: "none",
  fn() {
    const o = {
      tty: { type: "boolean", short: "t" },
      cwd: { type: "string" },
      cap: { type: "string", short: "c" },
    } as const;
    assert.deepEqual(splitAtCommand(["-t", "--cwd", "/tmp", "c1", "sh", "-c", "exit 5"], o), {
      head: ["-t", "--cwd", "/tmp", "c1"],
      command: ["sh", "-c", "exit 5"],
    });
    assert.deepEqual(splitAtCommand(["--cwd=/x", "c1", "ls", "-l"], o), {
      head: ["--cwd=/x", "c1"],
      command: ["ls", "-l"],
    });
    assert.deepEqual(splitAtCommand(["-c", "X", "c1"], o), { head: ["-c", "X", "c1"], command: [] });
    assert.deepEqual(splitAtCommand(["--process", "p.json"], {}), {
      head: ["--process", "p.json"],
      command: [],
    });
  },
});
