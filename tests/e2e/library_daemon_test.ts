/**
 * A library sandbox kept by the host daemon, through mod.ts and the installed program: created
 * with `owner: "daemon"` in a real VM, a container started, released: the installed `cocoon
 * daemon` starts and holds it (record and management API). kill -9 of the daemon leaves the VM;
 * a new daemon takes it over at its start (before anyone calls); its API pauses and resumes it;
 * `fetchSandbox` borrows it back, a process runs in the container, and delete removes everything;
 * the daemon, keeping nothing, exits. Skipped unless RUNTIME_E2E=1 (or COCOON_E2E=1) and the host
 * can boot guests.
 */
import assert from "node:assert/strict";
import { daemonPid, exists, killDaemons, printDaemonLog, until } from "./daemon_util.ts";
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { createSandbox, fetchSandbox, type Sandbox } from "../../mod.ts";
import { cocoonBin } from "../utils/program.ts";
import { mountsUnder, qemuPids, scrub } from "./sandbox_util.ts";
import { guestImage, hostCanBoot, writeConfig } from "./shim_vm_env.ts";

const enabled = (Deno.env.get("RUNTIME_E2E") === "1" || Deno.env.get("COCOON_E2E") === "1") &&
  await hostCanBoot();

async function api(socket: string, method: string, path: string): Promise<{ status: number; body: unknown }> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
  try {
    const r = await fetch(`http://cocoon${path}`, {
      method,
      client,
      ...(method === "POST" ? { headers: { "content-type": "application/json" }, body: "{}" } : {}),
    });
    const text = await r.text();
    return { status: r.status, body: text === "" ? null : JSON.parse(text) };
  } finally {
    client.close();
  }
}

async function ownerOf(dir: string, id: string): Promise<[string, number]> {
  const rec = JSON.parse(await Deno.readTextFile(`${dir}/run/store/sandboxes/${id}/@record.json`));
  return [rec.owner?.kind ?? "none", rec.owner?.pid ?? 0];
}

Deno.test({
  name:
    'mod.ts owner "daemon": release hands the VM to cocoon daemon, a daemon restarted after kill -9 takes it over at start, fetchSandbox borrows it back',
  ignore: !enabled,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-libd-" });
    const daemonDir = `${dir}/d`;
    const id = `libd-${crypto.randomUUID().slice(0, 8)}`;
    const configPath = await writeConfig(dir, await guestImage());
    const daemons: number[] = [];
    let sb: Sandbox | undefined;
    let passed = false;
    try {
      const rootfs = await makeBusyboxRootfs(dir);
      const opts = { configPath, daemonDir, daemonProgram: cocoonBin() };
      sb = await createSandbox({ id, ...opts, owner: "daemon" });
      await sb.createContainer({ id: "c1", rootfs, args: ["sleep", "600"] });
      await sb.startContainer("c1");
      const [qemu] = await qemuPids(id);
      await sb.release();
      sb = undefined;
      daemons.push(await daemonPid(daemonDir));
      assert.ok(daemons[0]! > 0, "release started the daemon");
      assert.deepEqual(await ownerOf(dir, id), ["daemon", daemons[0]], "the daemon holds it");
      const listed = await api(`${daemonDir}/api.sock`, "GET", "/v1/sandboxes");
      assert.deepEqual(
        (listed.body as { sandboxes: { id: string; owner: { kind: string } }[] }).sandboxes.map((s) => [
          s.id,
          s.owner.kind,
        ]),
        [[id, "in-process"]],
      );

      Deno.kill(daemons[0]!, "SIGKILL");
      await until("the daemon to die", async () => !(await exists(`/proc/${daemons[0]}`)), 10_000);
      assert.deepEqual(await qemuPids(id), [qemu], "the VM outlives the daemon");
      // its supervisor starts it again; nobody calls: the new daemon takes the sandbox over at its start
      const supervisor = Number(await Deno.readTextFile(`${daemonDir}/supervisor.pid`));
      await until("a new daemon", async () => ![0, daemons[0]].includes(await daemonPid(daemonDir)), 30_000);
      const next = await daemonPid(daemonDir);
      daemons.push(next, supervisor);
      await until("the new daemon to take it over", async () => (await ownerOf(dir, id))[1] === next, 30_000);
      assert.equal((await api(`${daemonDir}/api.sock`, "POST", `/v1/sandboxes/${id}/pause`)).status, 200);
      assert.equal((await api(`${daemonDir}/api.sock`, "GET", `/v1/sandboxes/${id}`)).status, 200);
      assert.equal((await api(`${daemonDir}/api.sock`, "POST", `/v1/sandboxes/${id}/resume`)).status, 200);

      sb = await fetchSandbox(id, opts);
      assert.deepEqual((await ownerOf(dir, id))[0], "program", "borrowed back");
      const p = await sb.enterContainer("c1", { args: ["sh", "-c", "sleep 1; echo back"] });
      const out = new Response(p.io.stdout).text();
      assert.equal(await p.wait(), 0);
      assert.equal(await out, "back\n");
      await sb.delete({ force: true });
      sb = undefined;
      await until("the VM to go", async () => (await qemuPids(id)).length === 0, 30_000);
      assert.equal(await exists(`${dir}/run/sandboxes/${id}`), false);
      await until(
        "the daemon, keeping nothing, to exit with its supervisor",
        async () => !(await exists(`/proc/${next}`)) && !(await exists(`/proc/${supervisor}`)),
        30_000,
      );
      passed = true;
    } finally {
      if (!passed) {
        await printDaemonLog(daemonDir);
      }
      await sb?.delete({ force: true }).catch(() => {});
      await killDaemons(daemonDir, daemons);
      await scrub(dir, id);
      assert.deepEqual(await mountsUnder(dir), []);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
