import assert from "node:assert/strict";
import { manifest } from "./manifest.ts";
import plugin from "./mod.ts";
import { createLogger, nullSink } from "../../../runtime/log/logger.ts";
import { sandboxId } from "../../../runtime/ids.ts";

Deno.test({
  name: "none network attach() gives no endpoints and no devices",
  permissions: manifest.permissions,
  async fn() {
    const net = await plugin.create({
      log: createLogger({ sink: nullSink }),
      config: {},
      runDir: "/nonexistent",
    });
    const a = await net.attach("/var/run/netns/x", { sandbox: sandboxId("sb") });
    assert.deepEqual(a, { endpoints: [], devices: [] });
    await net.detach("/var/run/netns/x", a);
  },
});
