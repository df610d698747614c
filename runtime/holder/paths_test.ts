import assert from "node:assert/strict";
import { containerId } from "../ids.ts";
import { parseHolderInfo } from "./info.ts";
import { ociPaths, ociRoot } from "./paths.ts";

Deno.test({
  name: "ociPaths() puts the state under <root>/oci/<id> and shortens a socket path over 107 bytes",
  permissions: "none",
  fn() {
    assert.equal(ociRoot("/run/cocoon/"), "/run/cocoon/oci");
    const p = ociPaths("/run/cocoon", containerId("c1"));
    assert.deepEqual(p, {
      dir: "/run/cocoon/oci/c1",
      socket: "/run/cocoon/oci/c1/ctl.sock",
      info: "/run/cocoon/oci/c1/holder.json",
      error: "/run/cocoon/oci/c1/create-error.json",
      log: "/run/cocoon/oci/c1/holder.log",
    });
    const long = ociPaths("/run/containerd/runc/default", containerId("a".repeat(100)));
    assert.ok(new TextEncoder().encode(long.socket).length <= 107, long.socket);
    assert.match(long.socket, /^\/run\/cocoon-ctl-[0-9a-f]{16}\.sock$/);
    assert.notEqual(
      long.socket,
      ociPaths("/run/containerd/runc/default", containerId("b".repeat(100))).socket,
    );
  },
});

Deno.test({
  name: "parseHolderInfo() validates every field",
  permissions: "none",
  fn() {
    const ok = { pid: 42, startTime: "123", socket: "/s", bundle: "/b", createdAt: "t" };
    assert.deepEqual(parseHolderInfo(ok, "f"), ok);
    assert.throws(() => parseHolderInfo({ ...ok, pid: -1 }, "f"), /Invalid holder state "f"/);
    assert.throws(() => parseHolderInfo({ ...ok, socket: 1 }, "f"), /Invalid holder state/);
    assert.throws(() => parseHolderInfo(null, "f"), /Invalid holder state/);
  },
});
