import assert from "node:assert/strict";
import { readBundleRegistration, type Registration, writeRegistration } from "./registration.ts";

const pod: Registration = {
  schema: 1,
  id: "pod-1",
  namespace: "k8s.io",
  group: "pod-1",
  ttrpcAddress: "/run/containerd/containerd.sock.ttrpc",
  grpcAddress: "/run/containerd/containerd.sock",
  daemonDir: "/run/cocoon/daemon",
};

Deno.test({
  name:
    "readBundleRegistration() uses the bundle's own registration, else its pod's (containerd 1.7 shim mode)",
  permissions: { read: true, write: true },
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "cocoon-reg-" });
    try {
      await Deno.mkdir(`${root}/pod-1`);
      await Deno.mkdir(`${root}/ctr-a`);
      await Deno.mkdir(`${root}/ctr-b`);
      await Deno.mkdir(`${root}/ctr-c`);
      await writeRegistration(`${root}/pod-1`, pod);
      await Deno.writeTextFile(`${root}/ctr-a/sandbox`, "pod-1\n");
      assert.deepEqual(
        await readBundleRegistration(`${root}/ctr-a`),
        await readBundleRegistration(`${root}/pod-1`),
      );
      assert.equal((await readBundleRegistration(`${root}/ctr-a`))?.group, "pod-1");
      // No registration and no pod file: none.
      assert.equal(await readBundleRegistration(`${root}/ctr-b`), null);
      // A pod name that is a path is never followed.
      await Deno.writeTextFile(`${root}/ctr-c/sandbox`, "../pod-1");
      assert.equal(await readBundleRegistration(`${root}/ctr-c`), null);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
