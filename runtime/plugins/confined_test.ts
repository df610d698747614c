/**
 * Third-party plugins in their Worker: the manifest's permissions and nothing more, top-level code
 * confined, only pinned local files, and the proxy's behaviour (synchronous getters, handles,
 * aborts, errors, logs).
 */
import assert from "node:assert/strict";
import { isRuntimeError } from "../errors.ts";
import { createLogger, memorySink } from "../log/logger.ts";
import { fileDigest } from "./confined.ts";
import { loadPlugin } from "./loader.ts";
import { createRegistry } from "./registry.ts";

const fixtures = new URL("../../tests/fixtures/plugins/", import.meta.url).pathname;
const sink = memorySink();
const log = createLogger({ sink, level: "debug" });
const ctx = { log, config: { greeting: "hi" }, runDir: "/nonexistent" };

async function registry(names: Record<string, string>) {
  const files = Object.fromEntries(Object.entries(names).map(([k, f]) => [k, `${fixtures}${f}`]));
  const pins = Object.fromEntries(
    await Promise.all(Object.entries(files).map(async ([k, f]) => [k, await fileDigest(f)] as const)),
  );
  return { files, pins, reg: createRegistry(files, pins) };
}

Deno.test("a confined plugin that reaches past its manifest gets PermissionDenied in its Worker", async () => {
  const { reg } = await registry({ overreach: "overreach.ts" });
  const p = await loadPlugin(reg, "store", "overreach", ctx);
  await assert.rejects(
    p.instance.load("x"),
    (e) => isRuntimeError(e) && e.code === "PermissionDenied" && /\/etc\/hostname/.test(e.message),
  );
  assert.deepEqual(await p.instance.list(), [], "its other calls still answer");
});

Deno.test("a confined plugin's top-level code runs only inside the confinement", async () => {
  const marker = "/tmp/cocoon-toplevel-marker";
  await Deno.remove(marker).catch(() => {});
  const { reg } = await registry({ toplevel: "toplevel.ts" });
  await assert.rejects(
    loadPlugin(reg, "store", "toplevel", ctx),
    (e) => isRuntimeError(e) && e.code === "PermissionDenied" && /write access/.test(e.message),
  );
  assert.equal(await Deno.stat(marker).then(() => true, () => false), false, "nothing was written");
});

Deno.test("only a pinned local file loads: unpinned, changed and remote modules are refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-plugin-" });
  try {
    const file = `${dir}/p.ts`;
    await Deno.copyFile(`${fixtures}overreach.ts`, file);
    const unpinned = createRegistry({ p: file });
    await assert.rejects(
      loadPlugin(unpinned, "store", "p", ctx),
      (e) =>
        isRuntimeError(e) && e.code === "PermissionDenied" &&
        /is not pinned; add \[plugins\.integrity\] p = "sha256:[0-9a-f]{64}"/.test(e.message),
    );
    const pinned = createRegistry({ p: file }, { p: await fileDigest(file) });
    await loadPlugin(pinned, "store", "p", ctx);
    await Deno.writeTextFile(file, "\n// changed", { append: true });
    await assert.rejects(loadPlugin(pinned, "store", "p", ctx), /the file changed/);
    const remote = createRegistry({ r: "https://example.com/p.ts" }, { r: "sha256:00" });
    await assert.rejects(loadPlugin(remote, "store", "r", ctx), /only local files are loaded/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the proxy: synchronous getters from the last answer, handles, forwarded aborts, errors with codes, logs", async () => {
  const { reg } = await registry({ "fake-hv": "fake_hv.ts" });
  const hv = (await loadPlugin(reg, "hypervisor", "fake-hv", ctx)).instance;
  assert.deepEqual(hv.capabilities(), { accelerators: ["tcg"], greeting: "hi" });
  await hv.check();
  const vm = await hv.createVm({ id: "vm1" } as Parameters<typeof hv.createVm>[0]);
  assert.deepEqual(vm.pids(), []);
  assert.deepEqual(vm.agentAddress(), { kind: "unix", path: "/run/vm1.sock" });
  await vm.start();
  assert.deepEqual(vm.pids(), [4242], "refreshed with the start's answer");
  const ac = new AbortController();
  const hang = (vm as unknown as { hang(o: { signal: AbortSignal }): Promise<string> }).hang({
    signal: ac.signal,
  });
  setTimeout(() => ac.abort(), 20);
  assert.equal(await hang, "aborted");
  await assert.rejects(
    (vm as unknown as { fail(): Promise<void> }).fail(),
    (e) => isRuntimeError(e) && e.code === "NotFound" && /no such VM/.test(e.message),
  );
  assert.ok(
    sink.lines.some((l) => l.includes('"msg":"fake hv created"')),
    "the plugin's log reaches the runtime's",
  );
});
