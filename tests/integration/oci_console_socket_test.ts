import assert from "node:assert/strict";
import { sendConsole } from "../../runtime/sys/console_socket.ts";
import { closeFd, listenConsoleSocket, readSome, receiveFd, setSize, writeAll } from "./oci_console_peer.ts";

async function readStream(
  r: ReadableStreamDefaultReader<Uint8Array>,
  want: string,
  ms = 5000,
): Promise<string> {
  let got = "";
  const deadline = Date.now() + ms;
  while (!got.includes(want) && Date.now() < deadline) {
    const x = await Promise.race([r.read(), new Promise<null>((res) => setTimeout(() => res(null), 200))]);
    if (x !== null && !x.done) got += new TextDecoder().decode(x.value);
  }
  return got;
}

Deno.test({
  name: "sendConsole() hands a pty master over SCM_RIGHTS and relays both ways through the raw slave",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-console-" });
    const path = `${dir}/console.sock`;
    const listener = listenConsoleSocket(path);
    let master = -1;
    const slave = sendConsole(path);
    try {
      const got = receiveFd(listener);
      master = got.fd;
      assert.match(got.name, /^\/dev\/pts\/\d+$/);
      assert.equal(slave.name, got.name);
      // caller -> container: raw mode, so no echo and no line buffering
      writeAll(master, "ls\r");
      const reader = slave.stream.readable.getReader();
      assert.equal(await readStream(reader, "ls\r"), "ls\r");
      reader.releaseLock();
      // container -> caller: no "\n" -> "\r\n" translation either
      const w = slave.stream.writable.getWriter();
      await w.write(new TextEncoder().encode("hi\n"));
      w.releaseLock();
      assert.equal(readSome(master, 2000), "hi\n");
      assert.equal(readSome(master, 100), "");
      // the window size set on the master is visible on the slave
      setSize(master, 33, 101);
      assert.deepEqual(slave.windowSize(), { rows: 33, cols: 101 });
      // the caller hangs up: the slave reads end of stream (EIO)
      closeFd(master);
      master = -1;
      const r2 = slave.stream.readable.getReader();
      assert.equal((await r2.read()).done, true);
    } finally {
      slave.close();
      if (master >= 0) closeFd(master);
      closeFd(listener);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "sendConsole() fails with NotFound when nobody listens on the console socket",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-console-" });
    try {
      assert.throws(
        () => sendConsole(`${dir}/none.sock`),
        (e: unknown) => e instanceof Error && "code" in e && e.code === "NotFound",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
