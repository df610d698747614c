import assert from "node:assert/strict";
import { MemoryFs } from "../sys/_fake.ts";
import { parseIdFile, resolveProcessUser } from "./user.ts";

function rootfs(): MemoryFs {
  const fs = new MemoryFs();
  fs.files.set(
    "/r/etc/passwd",
    "root:x:0:0:root:/root:/bin/sh\n# comment\napp:x:1000:1001::/home/app:/bin/sh\n",
  );
  fs.files.set("/r/etc/group", "root:x:0:\nstaff:x:50:\napp:x:1001:\n");
  return fs;
}

Deno.test({
  name: "resolveProcessUser() resolves user and group names from the container's files like runc",
  permissions: "none",
  async fn() {
    const fs = rootfs();
    const p = (username: string) => ({
      args: ["id"],
      user: { uid: 0, gid: 0, username, additionalGids: [7] },
    });
    assert.deepEqual((await resolveProcessUser(fs, "/r", p("app"), "x"))["user"], {
      uid: 1000,
      gid: 1001,
      additionalGids: [7],
    });
    assert.deepEqual((await resolveProcessUser(fs, "/r", p("app:staff"), "x"))["user"], {
      uid: 1000,
      gid: 50,
      additionalGids: [7],
    });
    assert.deepEqual((await resolveProcessUser(fs, "/r", p("1000:9"), "x"))["user"], {
      uid: 1000,
      gid: 9,
      additionalGids: [7],
    });
    const plain = { args: ["id"], user: { uid: 5, gid: 6 } };
    assert.equal(await resolveProcessUser(fs, "/r", plain, "x"), plain, "no username: unchanged");
    assert.deepEqual(parseIdFile("bad\nx:y:z\nok:x:3:4\n"), [{ name: "ok", id: 3, gid: 4 }]);
  },
});

Deno.test({
  name: "resolveProcessUser() says NotFound for a user or group the container does not have",
  permissions: "none",
  async fn() {
    const fs = rootfs();
    const p = (username: string) => ({ args: ["id"], user: { uid: 0, gid: 0, username } });
    await assert.rejects(resolveProcessUser(fs, "/r", p("nobody"), 'exec "e1" in container "c1"'), {
      code: "NotFound",
      message: 'Cannot exec "e1" in container "c1": no user "nobody" in the container\'s /etc/passwd',
    });
    await assert.rejects(resolveProcessUser(fs, "/r", p("app:wheel"), "x"), { code: "NotFound" });
  },
});
