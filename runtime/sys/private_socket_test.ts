import assert from "node:assert/strict";
import { listenPrivate } from "./private_socket.ts";

Deno.test("listenPrivate() binds in a private directory, sets the mode, then moves the socket onto its path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-sock-" });
  try {
    const path = `${dir}/api.sock`;
    await Deno.writeTextFile(path, "stale");
    let staged = "";
    const l = await listenPrivate(path, (p) => {
      staged = p;
      return Deno.listen({ transport: "unix", path: p });
    }, { close: (x) => x.close() });
    try {
      assert.notEqual(staged, path);
      assert.ok(staged.startsWith(`${dir}/.s`), staged);
      const st = await Deno.lstat(path);
      assert.ok(st.isSocket, "the stale file was replaced by the socket");
      assert.equal(st.mode! & 0o777, 0o600);
      const names: string[] = [];
      for await (const e of Deno.readDir(dir)) names.push(e.name);
      assert.deepEqual(names, ["api.sock"], "no staging directory is left");
      const accepted = l.accept();
      const c = await Deno.connect({ transport: "unix", path });
      (await accepted).close();
      c.close();
    } finally {
      l.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("listenPrivate() cleans up and reports a bind that fails", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-sock-" });
  try {
    await assert.rejects(
      listenPrivate(`${dir}/x.sock`, () => {
        throw new Error("no");
      }),
      /Cannot listen on/,
    );
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names, []);
    await assert.rejects(listenPrivate("relative.sock", () => 1), /must be absolute/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
