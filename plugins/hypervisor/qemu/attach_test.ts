import assert from "node:assert/strict";
import { HypervisorError } from "../../../runtime/errors.ts";
import { sandboxId } from "../../../runtime/ids.ts";
import type { AgentAddress, VmState } from "../../types.ts";
import { GUEST_MARKER } from "./_test_guest.ts";
import { pidAlive } from "./_process.ts";
import { ensureTestGuest } from "./_test_guest.ts";
import { leftovers, TEST_PERMISSIONS, testHypervisor, waitForText } from "./_test_util.ts";

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Validates the starter's output into a VmState. */
function parseState(line: string): VmState {
  const v: unknown = JSON.parse(line);
  assert.ok(isRecord(v) && isRecord(v["agent"]) && isRecord(v["extra"]));
  const { id, pid, stateDir, qmpSocket, agent, extra } = v;
  assert.ok(typeof id === "string" && typeof pid === "number" && typeof stateDir === "string");
  assert.ok(typeof qmpSocket === "string" && agent["kind"] === "unix" && typeof agent["path"] === "string");
  const address: AgentAddress = { kind: "unix", path: agent["path"] };
  return { id: sandboxId(id), hypervisor: "qemu", pid, stateDir, qmpSocket, agent: address, extra };
}

async function readLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  let text = "";
  try {
    while (!text.includes("\n")) {
      const r = await reader.read();
      if (r.done) break;
      text += new TextDecoder().decode(r.value);
    }
  } finally {
    reader.releaseLock();
  }
  return text.split("\n")[0] ?? "";
}

Deno.test({
  name: "attachVm() re-attaches to a VM whose starting process was killed, and stops it",
  permissions: TEST_PERMISSIONS,
  async fn() {
    await ensureTestGuest(); // build once here, not inside the child's start timeout
    const starter = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", new URL("./_test_starter.ts", import.meta.url).pathname, "qemu-attach"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    let state: VmState | undefined;
    try {
      state = parseState(await readLine(starter.stdout));
    } finally {
      starter.kill("SIGKILL");
      await starter.status;
      await starter.stdout.cancel().catch(() => {});
    }
    const extra = state.extra ?? {};
    const consoleLog = typeof extra["consoleLog"] === "string" ? extra["consoleLog"] : "";
    try {
      assert.ok(await pidAlive(state.pid), "QEMU outlives the process that started it");
      await waitForText(consoleLog, GUEST_MARKER);

      // A pid that another program got after its QEMU exited: the VM is gone (NotFound).
      const wrong = { ...state, pid: Deno.pid };
      await assert.rejects(
        testHypervisor().attachVm(wrong),
        (e: unknown) => e instanceof HypervisorError && e.code === "NotFound" && /is gone/.test(e.message),
      );

      const vm = await testHypervisor().attachVm(state);
      assert.deepEqual(vm.pids(), [state.pid]);
      assert.deepEqual(vm.agentAddress(), state.agent);
      await vm.pause();
      await vm.resume();
      await vm.stop({ timeoutMs: 20_000 });
      assert.deepEqual(await vm.wait(), { kind: "shutdown" });
      assert.ok(!(await pidAlive(state.pid)));
      assert.deepEqual(await leftovers(state.stateDir), []);
    } finally {
      if (await pidAlive(state.pid)) {
        await new Deno.Command("kill", { args: ["-KILL", String(state.pid)] }).output();
      }
      await Deno.remove(state.stateDir, { recursive: true });
    }
  },
});
