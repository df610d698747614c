// Interop with a real containerd 1.6 ttrpc server (Go ttrpc 1.1): a private containerd instance in a
// temp dir, our client forwards an event that `ctr events` then prints, and lookup errors come back
// with containerd's own codes and texts. Skipped when no containerd binary is installed.
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { isRuntimeError } from "../../runtime/errors.ts";
import { createLogger, memorySink } from "../../runtime/log/logger.ts";
import { TtrpcClient } from "../../runtime/protocol/ttrpc/client.ts";
import { typedClient } from "../../runtime/protocol/ttrpc/typed.ts";
import { Events } from "../../runtime/protocol/gen/containerd/services/events/ttrpc/v1/events_pb.ts";
import { TaskExitSchema } from "../../runtime/protocol/gen/containerd/events/task_pb.ts";

function which(cmd: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin:/usr/sbin").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${cmd}`).isFile) return `${dir}/${cmd}`;
    } catch {
      // not here
    }
  }
  return undefined;
}

const containerd = which("containerd");
const ctr = which("ctr");

async function waitFor(path: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      await Deno.stat(path);
      return;
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

Deno.test({
  name:
    "TtrpcClient talks to a real containerd: Events/Forward reaches `ctr events`, lookup errors keep their codes",
  ignore: containerd === undefined || ctr === undefined || Deno.uid() !== 0,
  permissions: "inherit",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ttrpc-ctd-" });
    const grpc = `${dir}/c.sock`;
    const ttrpcSock = `${dir}/c.sock.ttrpc`;
    await Deno.writeTextFile(
      `${dir}/config.toml`,
      [
        "version = 2",
        `root = "${dir}/root"`,
        `state = "${dir}/state"`,
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        "[grpc]",
        `  address = "${grpc}"`,
        "[ttrpc]",
        `  address = "${ttrpcSock}"`,
      ].join("\n"),
    );
    const daemon = new Deno.Command(containerd ?? "containerd", {
      args: ["--config", `${dir}/config.toml`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    let events: Deno.ChildProcess | undefined;
    let client: TtrpcClient | undefined;
    try {
      await waitFor(ttrpcSock, 10_000);
      await waitFor(grpc, 10_000);
      events = new Deno.Command(ctr ?? "ctr", {
        args: ["--address", grpc, "events"],
        stdout: "piped",
        stderr: "null",
      })
        .spawn();
      await new Promise((r) => setTimeout(r, 500)); // let ctr subscribe
      client = await TtrpcClient.connect(ttrpcSock, { log: createLogger({ sink: memorySink() }) });
      const exit = create(TaskExitSchema, {
        containerId: "ttrpc-interop",
        id: "ttrpc-interop",
        pid: 42,
        exitStatus: 137,
      });
      await typedClient(client, Events).forward({
        envelope: {
          timestamp: timestampNow(),
          namespace: "default",
          topic: "/tasks/exit",
          event: { typeUrl: "containerd.events.TaskExit", value: toBinary(TaskExitSchema, exit) },
        },
      }, { timeoutMs: 5000, metadata: { "containerd-namespace-ttrpc": "default" } });
      // Lookup errors come from Go ttrpc: UNIMPLEMENTED with "service X" / "method X".
      await assert.rejects(
        client.call("no.such.Service", "X", new Uint8Array(0), { timeoutMs: 5000 }),
        (e: unknown) =>
          isRuntimeError(e) && e.code === "Unimplemented" && /service no\.such\.Service/.test(e.message),
      );
      await assert.rejects(
        client.call("containerd.services.events.ttrpc.v1.Events", "Nope", new Uint8Array(0), {
          timeoutMs: 5000,
        }),
        (e: unknown) => isRuntimeError(e) && e.code === "Unimplemented" && /method Nope/.test(e.message),
      );
      // ctr prints "<time> /tasks/exit {...container_id:"ttrpc-interop"...}".
      const reader = events.stdout.getReader();
      let out = "";
      const deadline = Date.now() + 10_000;
      while (!out.includes("ttrpc-interop") && Date.now() < deadline) {
        const r = await Promise.race([
          reader.read(),
          new Promise<{ done: true; value: undefined }>((res) =>
            setTimeout(() => res({ done: true, value: undefined }), deadline - Date.now())
          ),
        ]);
        if (r.done) break;
        out += new TextDecoder().decode(r.value);
      }
      reader.releaseLock();
      assert.match(out, /\/tasks\/exit/);
      assert.match(out, /ttrpc-interop/);
    } finally {
      await client?.close();
      if (events) {
        events.kill("SIGKILL");
        await events.stdout.cancel().catch(() => {});
        await events.status;
      }
      daemon.kill("SIGTERM");
      await daemon.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
