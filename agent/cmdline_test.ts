import assert from "node:assert/strict";
import { parseAgentCmdline } from "./cmdline.ts";

Deno.test({
  name: "parseAgentCmdline() reads agent.* options with defaults",
  permissions: "none",
  fn() {
    const d = parseAgentCmdline("console=ttyS0 panic=1");
    assert.deepEqual(d, {
      logLevel: "info",
      channel: { kind: "serial", name: "cocoon.agent" },
      runtime: "auto",
      debugConsole: false,
      unknown: [],
    });
    const o = parseAgentCmdline(
      "agent.log=debug agent.channel=vsock agent.port=2000 agent.debug_console agent.x=1",
    );
    assert.equal(o.logLevel, "debug");
    assert.deepEqual(o.channel, { kind: "vsock", port: 2000 });
    assert.equal(o.debugConsole, true);
    assert.deepEqual(o.unknown, ["x"]);
  },
});

Deno.test({
  name: "parseAgentCmdline() rejects invalid values",
  permissions: "none",
  fn() {
    assert.throws(() => parseAgentCmdline("agent.log=loud"), { code: "InvalidArgument" });
    assert.throws(() => parseAgentCmdline("agent.channel=tcp"), { code: "InvalidArgument" });
    assert.throws(() => parseAgentCmdline("agent.channel=vsock agent.port=-1"), { code: "InvalidArgument" });
    assert.throws(() => parseAgentCmdline("agent.runtime=youki"), { code: "InvalidArgument" });
  },
});
