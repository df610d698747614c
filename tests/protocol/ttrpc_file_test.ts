// The char-device adapter (what the guest uses on /dev/vport*): client and server over a pair of raw
// ptys joined by socat, so both sides read and write a character device through openFileDuplex().
import assert from "node:assert/strict";
import { createLogger, memorySink } from "../../runtime/log/logger.ts";
import { openFileDuplex } from "../../runtime/protocol/ttrpc/channel.ts";
import { TtrpcClient } from "../../runtime/protocol/ttrpc/client.ts";
import { dec, echoServer, enc, SVC } from "./ttrpc_test_util.ts";

function hasSocat(): boolean {
  for (const dir of ["/usr/bin", "/bin", "/usr/local/bin"]) {
    try {
      if (Deno.statSync(`${dir}/socat`).isFile) return true;
    } catch {
      // not here
    }
  }
  return false;
}

async function waitFor(path: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      await Deno.stat(path);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error(`${path} did not appear`);
}

Deno.test({
  name: "TtrpcClient.openFile() and openFileDuplex() carry calls and streams over character devices",
  ignore: !hasSocat(),
  permissions: "inherit",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ttrpc-pty-" });
    const socat = new Deno.Command("socat", {
      args: [`pty,link=${dir}/host,rawer`, `pty,link=${dir}/guest,rawer`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const { server } = echoServer();
    let client: TtrpcClient | undefined;
    try {
      await waitFor(`${dir}/host`);
      await waitFor(`${dir}/guest`);
      const served = server.serveConnection(await openFileDuplex(`${dir}/guest`));
      client = await TtrpcClient.openFile(`${dir}/host`, { log: createLogger({ sink: memorySink() }) });
      const c = client;
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => c.call(SVC, "Echo", enc(`v${i}`))),
      );
      results.forEach((r, i) => assert.equal(dec(r), `v${i}`));
      const big = new Uint8Array(256 * 1024).map((_, i) => i & 0xff);
      assert.deepEqual(await client.call(SVC, "Echo", big), big);
      const s = client.stream(SVC, "Stream");
      await s.send(enc("a"));
      await s.send(enc("b"));
      await s.closeSend();
      const got: string[] = [];
      for await (const m of s) got.push(dec(m));
      assert.deepEqual(got, ["a", "b"]);
      await client.close();
      await server.close();
      await served;
    } finally {
      await client?.close();
      await server.close();
      socat.kill("SIGTERM");
      await socat.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
