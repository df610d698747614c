import assert from "node:assert/strict";
import { isRuntimeError } from "../errors.ts";
import { loggerArgv } from "./log_driver.ts";

Deno.test({
  name: "loggerArgv() takes the program from the path and k v pairs from the query",
  permissions: "none",
  fn() {
    assert.deepEqual(loggerArgv("binary:///usr/bin/my%20logger?a=1&b=x%2Fy"), {
      path: "/usr/bin/my logger",
      args: ["a", "1", "b", "x/y"],
    });
    assert.throws(() => loggerArgv("binary:///"), (e) => isRuntimeError(e) && e.code === "InvalidArgument");
  },
});
