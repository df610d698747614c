/**
 * Faults that earlier e2e files do not cover, through the installed library and program:
 *
 * - a program killed with -9 while it creates a sandbox, the moment its QEMU exists (before or just
 *   after the record names it): `delete({ force })` from another process leaves no QEMU, no
 *   directory, no record;
 * - a sandbox's QEMU killed with -9 while a program holds it: the handle sees the VM gone, the
 *   sandbox reads stopped, delete leaves nothing;
 * - a virtio-fs sandbox's virtiofsd killed with -9: delete leaves no QEMU, virtiofsd, socket, mount
 *   or state.
 *
 * The rest of the matrix is in other files: QEMU killed under containerd (shim_vm: both pods'
 * tasks exit 137), the daemon killed under containerd (shim_vm: the pods stay RUNNING, exec works,
 * a waiting `ctr run` gets its output and exit), the supervisor and daemon both killed (shim_vm:
 * containerd cleans up), containerd killed and started again (shim_vm), the daemon killed under a
 * Controller (daemon_adopt) and under a library sandbox it keeps (library_daemon), the holder or
 * QEMU of an OCI container killed (oci_cli_vm), QEMU of a released library sandbox (sandbox_vm).
 * Skipped unless RUNTIME_E2E=1 (or COCOON_E2E=1) and the host can boot guests.
 */
import assert from "node:assert/strict";
import { exists, until } from "./daemon_util.ts";
import { createSandbox, fetchSandbox } from "../../mod.ts";
import { installedLibrary } from "../utils/program.ts";
import { mountsUnder, pidsMatching, qemuPids, runtimeFor, scrub, socketsUnder } from "./sandbox_util.ts";
import { installVirtiofsd } from "../../plugins/storage/virtio-fs/mod.ts";
import { buildGuestImage } from "../../runtime/guest/mod.ts";
import { Sandbox } from "../../runtime/sandbox/mod.ts";
import { guestImage, hostCanBoot, writeConfig } from "./shim_vm_env.ts";

const enabled = (Deno.env.get("RUNTIME_E2E") === "1" || Deno.env.get("COCOON_E2E") === "1") &&
  await hostCanBoot();

Deno.test({
  name:
    "a program killed with -9 while its sandbox's QEMU starts: delete --force from another process leaves nothing",
  ignore: !enabled,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-fault-" });
    const id = `fault-${crypto.randomUUID().slice(0, 8)}`;
    try {
      const configPath = await writeConfig(dir, await guestImage());
      // the creator: a program of its own importing the installed library
      await Deno.writeTextFile(
        `${dir}/creator.ts`,
        `import { createSandbox } from "${installedLibrary()}";\n` +
          `await createSandbox({ id: ${JSON.stringify(id)}, configPath: ${JSON.stringify(configPath)} });\n` +
          "await new Promise(() => {});\n",
      );
      const creator = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-config", "--no-lock", `${dir}/creator.ts`],
        cwd: dir,
        stdout: "null",
        stderr: "null",
      }).spawn();
      await until("its QEMU", async () => (await qemuPids(id)).length > 0, 60_000, 10);
      creator.kill("SIGKILL");
      await creator.status;
      const rec = JSON.parse(await Deno.readTextFile(`${dir}/run/store/sandboxes/${id}/@record.json`));
      const window = rec.vm === null ? "before the record named the VM" : "after the record named the VM";
      assert.equal(rec.status.kind, "creating", `killed ${window}: the record says creating`);
      assert.equal((await qemuPids(id)).length, 1, "the VM outlives its creator");

      const sb = await fetchSandbox(id, { configPath });
      await assert.rejects(sb.delete(), /creating/, "without force a creating sandbox stays");
      const again = await fetchSandbox(id, { configPath });
      await again.delete({ force: true });
      await until("the VM to go", async () => (await qemuPids(id)).length === 0, 10_000);
      assert.equal(await exists(`${dir}/run/sandboxes/${id}`), false, "its directory went");
      assert.equal(await exists(`${dir}/run/store/sandboxes/${id}`), false, "its record went");
      // deno-lint-ignore no-console -- which window the kill hit, for the report
      console.log(`fault matrix: creator killed ${window}`);
    } finally {
      await scrub(dir, id);
      assert.deepEqual(await mountsUnder(dir), []);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "QEMU killed with -9 under a program's handle: the handle sees the VM gone, delete leaves nothing",
  ignore: !enabled,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-fault-" });
    const id = `faultq-${crypto.randomUUID().slice(0, 8)}`;
    try {
      const configPath = await writeConfig(dir, await guestImage());
      const sb = await createSandbox({ id, configPath });
      const events: string[] = [];
      const stop = new AbortController();
      const watching = (async () => {
        for await (const e of sb.monitor({ signal: stop.signal })) events.push(e.kind);
      })();
      const [qemu] = await qemuPids(id);
      assert.ok(qemu !== undefined);
      Deno.kill(qemu, "SIGKILL");
      await until("the VM's exit event", () => Promise.resolve(events.includes("vm-exit")), 10_000);
      stop.abort();
      await watching;
      await sb.delete({ force: true });
      assert.deepEqual(await qemuPids(id), []);
      assert.equal(await exists(`${dir}/run/sandboxes/${id}`), false);
      assert.equal(await exists(`${dir}/run/store/sandboxes/${id}`), false);
    } finally {
      await scrub(dir, id);
      assert.deepEqual(await mountsUnder(dir), []);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "virtiofsd killed with -9 under a virtio-fs sandbox: delete leaves no QEMU, virtiofsd, socket, mount or state",
  ignore: !enabled,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await installVirtiofsd();
    const image = await buildGuestImage({ setCurrent: false });
    const dir = await Deno.makeTempDir({ prefix: "cocoon-fault-" });
    const id = `faultv-${crypto.randomUUID().slice(0, 8)}`;
    const virtiofsd = () =>
      pidsMatching((c) => c.includes("--shared-dir") && c.includes(dir) && !c.includes("qemu"));
    try {
      const sb = await Sandbox.create(await runtimeFor(dir, image, { sharedFs: "virtio-fs" }), { id });
      const daemons = await virtiofsd();
      assert.ok(daemons.length >= 1, "virtiofsd runs");
      for (const pid of daemons) Deno.kill(pid, "SIGKILL");
      await until("virtiofsd to die", async () => (await virtiofsd()).length === 0, 10_000);
      await sb.act({ kind: "delete", opts: { force: true } });
      assert.deepEqual(await qemuPids(id), []);
      assert.deepEqual(await virtiofsd(), []);
      assert.deepEqual(await socketsUnder(dir), []);
      assert.equal(await exists(`${dir}/run/sandboxes/${id}`), false);
    } finally {
      await scrub(dir, id);
      assert.deepEqual(await mountsUnder(dir), []);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
