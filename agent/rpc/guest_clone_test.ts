import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  ReseedRandomDevRequestSchema,
  SetHostnameRequestSchema,
} from "../../runtime/protocol/gen/cocoon/agent/v1/guest_pb.ts";
import type { CallContext } from "../../runtime/protocol/ttrpc/server.ts";
import { createAgentCore } from "../core.ts";
import { fakeEnv } from "../sys/_fake.ts";
import { guestHandlers, MAX_RESEED_BYTES } from "./guest.ts";

const ctx: CallContext = {
  service: "cocoon.agent.v1.Agent",
  method: "ReseedRandomDev",
  streamId: 1,
  metadata: new Map(),
  signal: new AbortController().signal,
  deadline: undefined,
};

Deno.test({
  name: "ReseedRandomDev refuses too little or too much data and SetHostname refuses a bad name",
  permissions: { read: true, write: true },
  async fn() {
    const dir = await Deno.makeTempDir();
    using core = createAgentCore({ env: fakeEnv(), bundleRoot: `${dir}/b`, setTime: () => {} });
    try {
      const h = new Map(guestHandlers(core));
      const reseed = h.get("ReseedRandomDev");
      const hostname = h.get("SetHostname");
      assert.ok(reseed && hostname);
      const req = (n: number) =>
        toBinary(
          ReseedRandomDevRequestSchema,
          create(ReseedRandomDevRequestSchema, { data: new Uint8Array(n) }),
        );
      await assert.rejects(reseed(req(8), ctx), /expected 16 to 4096 bytes: got 8/);
      await assert.rejects(reseed(req(MAX_RESEED_BYTES + 1), ctx), /got 4097/);
      const name = (s: string) =>
        toBinary(SetHostnameRequestSchema, create(SetHostnameRequestSchema, { hostname: s }));
      await assert.rejects(hostname(name("bad name"), ctx), /Cannot set the hostname to "bad name"/);
      await assert.rejects(hostname(name(""), ctx), /Cannot set the hostname/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "ReseedRandomDev credits host bytes to the kernel pool and reseeds the CRNG (root)",
  ignore: Deno.uid() !== 0,
  permissions: { read: true, write: true, ffi: true },
  async fn() {
    const dir = await Deno.makeTempDir();
    using core = createAgentCore({ env: fakeEnv(), bundleRoot: `${dir}/b`, setTime: () => {} });
    try {
      const reseed = new Map(guestHandlers(core)).get("ReseedRandomDev");
      assert.ok(reseed);
      const data = crypto.getRandomValues(new Uint8Array(64));
      await reseed(
        toBinary(ReseedRandomDevRequestSchema, create(ReseedRandomDevRequestSchema, { data })),
        ctx,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
