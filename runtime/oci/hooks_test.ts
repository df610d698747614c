import assert from "node:assert/strict";
import { hooksOf, refuseContainerHooks, runHook, runHooks } from "./hooks.ts";
import { isRuntimeError } from "../errors.ts";
import { createLogger } from "../log/logger.ts";
import type { OciState } from "./state.ts";

const STATE: OciState = {
  ociVersion: "1.0.2",
  id: "c1",
  status: "creating",
  pid: 42,
  bundle: "/b",
  annotations: { a: "b" },
};

Deno.test("hooksOf() reads every stage, defaults args to [path], and names a bad field", () => {
  const h = hooksOf({
    hooks: {
      prestart: [{ path: "/bin/true" }],
      poststop: [{ path: "/bin/sh", args: ["sh", "-c", "x"], env: ["A=1"], timeout: 5 }],
    },
  });
  assert.deepEqual(h.prestart, [{ path: "/bin/true", args: ["/bin/true"], env: [] }]);
  assert.deepEqual(h.poststop, [{ path: "/bin/sh", args: ["sh", "-c", "x"], env: ["A=1"], timeout: 5 }]);
  assert.deepEqual(h.createRuntime, []);
  assert.throws(
    () => hooksOf({ hooks: { prestart: [{ path: "relative" }] } }),
    (e) => isRuntimeError(e) && e.code === "InvalidArgument" && /hooks\.prestart\.0\.path/.test(e.message),
  );
  assert.throws(
    () => hooksOf({ hooks: { poststart: [{ path: "/x", timeout: 0 }] } }),
    (e) => isRuntimeError(e) && /hooks\.poststart\.0\.timeout/.test(e.message),
  );
});

Deno.test("refuseContainerHooks() refuses createContainer and startContainer hooks clearly", () => {
  assert.throws(
    () => refuseContainerHooks(hooksOf({ hooks: { startContainer: [{ path: "/usr/bin/hook" }] } }), "c1"),
    (e) =>
      isRuntimeError(e) && e.code === "Unimplemented" && /startContainer hooks .*microVM/.test(e.message),
  );
  refuseContainerHooks(hooksOf({ hooks: { prestart: [{ path: "/usr/bin/hook" }] } }), "c1");
});

Deno.test("runHook() gives the hook its argv[0], its env only and the state on stdin", async () => {
  const d = await Deno.makeTempDir();
  try {
    const out = `${d}/out`;
    // busybox dispatches on argv[0] as Docker's libnetwork-setkey hook does: "sh" only works when
    // argv[0] is passed apart from the program path.
    await runHook("prestart", {
      path: "/bin/busybox",
      args: ["sh", "-c", `{ echo "A=$A HOME=\${HOME:-unset}"; cat; } > ${out}`],
      env: ["A=1"],
    }, STATE);
    const text = await Deno.readTextFile(out);
    assert.match(text, /^A=1 HOME=unset\n/);
    assert.deepEqual(JSON.parse(text.split("\n")[1] ?? ""), STATE);
  } finally {
    await Deno.remove(d, { recursive: true });
  }
});

Deno.test("runHook() fails on a non-zero exit with its stderr, and on its timeout", async () => {
  await assert.rejects(
    () =>
      runHook("prestart", { path: "/bin/sh", args: ["sh", "-c", "echo nope >&2; exit 3"], env: [] }, STATE),
    (e) => isRuntimeError(e) && /prestart hook "\/bin\/sh" exited with code 3: nope/.test(e.message),
  );
  await assert.rejects(
    () => runHook("createRuntime", { path: "/bin/sleep", args: ["sleep", "10"], env: [], timeout: 1 }, STATE),
    (e) => isRuntimeError(e) && e.code === "DeadlineExceeded",
  );
});

Deno.test("runHooks() logs poststop failures and goes on; prestart failures throw", async () => {
  const lines: string[] = [];
  const log = createLogger({ sink: { write: (l: string) => void lines.push(l) }, level: "debug" });
  const hooks = hooksOf({
    hooks: {
      prestart: [{ path: "/bin/false" }],
      poststop: [{ path: "/bin/false" }, { path: "/bin/true" }],
    },
  });
  await runHooks("poststop", hooks, { ...STATE, status: "stopped" }, log);
  assert.ok(lines.some((l) => /hook failed/.test(l)));
  assert.ok(lines.some((l) => /hook ran/.test(l)));
  await assert.rejects(() => runHooks("prestart", hooks, STATE, log));
});
