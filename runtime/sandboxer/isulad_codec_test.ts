import assert from "node:assert/strict";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { isRuntimeError } from "../errors.ts";
import { decodeIsuladRequest, encodeIsuladResponse } from "./isulad_codec.ts";
import { jsonPodAnnotations } from "./isulad_service.ts";

const LD = WireType.LengthDelimited;

Deno.test({
  name: "decodeIsuladRequest() reads a Prepare request by iSulad's field numbers and skips unknown fields",
  permissions: "none",
  fn() {
    const mount = new BinaryWriter().tag(1, LD).string("bind").tag(2, LD).string("/src").tag(4, LD).string(
      "rbind",
    )
      .finish();
    const spec = new BinaryWriter().tag(2, LD).bytes(new TextEncoder().encode("{}")).finish();
    const buf = new BinaryWriter()
      .tag(1, LD).string("cocoon").tag(2, LD).string("sb1").tag(3, LD).string("c1").tag(4, LD).string("e1")
      .tag(5, LD).bytes(spec).tag(6, LD).bytes(mount).tag(8, LD).string("/out").tag(10, WireType.Varint).bool(
        true,
      )
      .tag(99, WireType.Varint).uint32(7)
      .finish();
    const r = decodeIsuladRequest("Prepare", buf);
    assert.equal(r.sandboxer, "cocoon");
    assert.equal(r.sandboxId, "sb1");
    assert.equal(r.containerId, "c1");
    assert.equal(r.execId, "e1");
    assert.equal(new TextDecoder().decode(r.options?.value), "{}");
    assert.deepEqual(r.rootfs, [{ type: "bind", source: "/src", target: "", options: ["rbind"] }]);
    assert.equal(r.stdout, "/out");
    assert.equal(r.terminal, true);
  },
});

Deno.test({
  name: "decodeIsuladRequest() takes field 3 per method: Stop's timeout, Status's verbose",
  permissions: "none",
  fn() {
    const stop = new BinaryWriter().tag(2, LD).string("sb").tag(3, WireType.Varint).uint32(9).finish();
    assert.equal(decodeIsuladRequest("Stop", stop).timeoutSecs, 9);
    const status = new BinaryWriter().tag(2, LD).string("sb").tag(3, WireType.Varint).bool(true).finish();
    assert.equal(decodeIsuladRequest("Status", status).verbose, true);
    assert.equal(decodeIsuladRequest("Status", status).timeoutSecs, 0);
  },
});

Deno.test({
  name: "decodeIsuladRequest() throws InvalidArgument on a truncated message",
  permissions: "none",
  fn() {
    assert.throws(
      () => decodeIsuladRequest("Create", Uint8Array.of(0x12, 0x09, 0x61)),
      (e) => isRuntimeError(e) && e.code === "InvalidArgument" && /Invalid Create request/.test(e.message),
    );
  },
});

Deno.test({
  name: "encodeIsuladResponse() writes strings, uint32s, timestamps and maps, leaving zero values out",
  permissions: "none",
  fn() {
    const buf = encodeIsuladResponse([
      { kind: "string", no: 1, value: "sb" },
      { kind: "uint32", no: 2, value: 0 },
      { kind: "timestamp", no: 3, value: new Date(1_700_000_000_250) },
      { kind: "map", no: 4, value: { a: "b" } },
      { kind: "string", no: 5, value: "" },
    ]);
    const rd = new BinaryReader(buf);
    const seen: number[] = [];
    while (rd.pos < rd.len) {
      const [no] = rd.tag();
      seen.push(no);
      const b = rd.bytes();
      if (no === 3) {
        const ts = new BinaryReader(b);
        ts.tag();
        assert.equal(Number(ts.int64()), 1_700_000_000);
        ts.tag();
        assert.equal(ts.int32(), 250_000_000);
      }
    }
    assert.deepEqual(seen, [1, 3, 4]);
  },
});

Deno.test({
  name: "jsonPodAnnotations() reads string annotations of iSulad's PodSandboxConfig JSON, else nothing",
  permissions: "none",
  fn() {
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    assert.deepEqual(jsonPodAnnotations(enc({ annotations: { a: "1", n: 2 } })), { a: "1" });
    assert.deepEqual(jsonPodAnnotations(enc([1])), {});
    assert.deepEqual(jsonPodAnnotations(new TextEncoder().encode("not json")), {});
    assert.deepEqual(jsonPodAnnotations(undefined), {});
  },
});
