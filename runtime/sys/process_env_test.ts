import assert from "node:assert/strict";
import { isLoaderVariable, SYSTEM_PATH, withSystemPath } from "./process_env.ts";

Deno.test("withSystemPath() appends the missing system directories and keeps the caller's order", () => {
  assert.equal(withSystemPath(undefined), SYSTEM_PATH);
  assert.equal(withSystemPath(""), SYSTEM_PATH);
  assert.equal(
    withSystemPath("/opt/x/bin:/usr/bin"),
    "/opt/x/bin:/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin:/bin",
  );
});

Deno.test("isLoaderVariable() names the dynamic loader's variables only", () => {
  for (const n of ["LD_PRELOAD", "LD_LIBRARY_PATH", "DYLD_INSERT_LIBRARIES"]) {
    assert.ok(isLoaderVariable(n), n);
  }
  for (const n of ["PATH", "OLD_PWD", "TTRPC_ADDRESS", "ld_preload"]) assert.ok(!isLoaderVariable(n), n);
});
