import assert from "node:assert/strict";
import { isRuntimeError } from "../../errors.ts";
import { readOrCreateToken, rotateToken } from "./token.ts";

Deno.test("readOrCreateToken() makes a 0600 token once, reads it back; rotate replaces it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-token-" });
  try {
    const file = `${dir}/sub/api.token`;
    const t = await readOrCreateToken(file);
    assert.match(t, /^[0-9a-f]{64}$/);
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    assert.equal(await readOrCreateToken(file), t);
    const r = await rotateToken(file);
    assert.notEqual(r, t);
    assert.equal(await readOrCreateToken(file), r);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readOrCreateToken() refuses a token others can read, and a file that holds none", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-token-" });
  try {
    const file = `${dir}/api.token`;
    await Deno.writeTextFile(file, `${"c".repeat(64)}\n`, { mode: 0o644 });
    await Deno.chmod(file, 0o644);
    await assert.rejects(
      readOrCreateToken(file),
      (e) => isRuntimeError(e) && e.code === "PermissionDenied" && /mode 0644/.test(e.message),
    );
    await Deno.chmod(file, 0o600);
    assert.equal(await readOrCreateToken(file), "c".repeat(64));
    await Deno.writeTextFile(file, "hello\n");
    await assert.rejects(readOrCreateToken(file), (e) => isRuntimeError(e) && e.code === "DataLoss");
    await Deno.remove(file);
    await Deno.symlink("/etc/hostname", file);
    await assert.rejects(readOrCreateToken(file), (e) => isRuntimeError(e) && e.code === "PermissionDenied");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
