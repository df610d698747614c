import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { OptionsSchema as RuncOptionsSchema } from "../protocol/gen/containerd/runc/options/oci_pb.ts";
import { OptionsSchema } from "../protocol/gen/containerd/runtimeoptions/v1/api_pb.ts";
import { parseRuntimeOptions } from "./runtime_options.ts";

const opts = (configPath: string) => toBinary(OptionsSchema, create(OptionsSchema, { configPath }));

Deno.test({
  name:
    "parseRuntimeOptions() reads config_path of runtimeoptions.v1.Options, bare or with a type URL prefix",
  permissions: "none",
  fn() {
    assert.deepEqual(parseRuntimeOptions(undefined, "c1"), {});
    assert.deepEqual(parseRuntimeOptions({ typeUrl: "", value: new Uint8Array() }, "c1"), {});
    assert.deepEqual(
      parseRuntimeOptions({ typeUrl: "runtimeoptions.v1.Options", value: opts("/etc/c.toml") }, "c1"),
      {
        configPath: "/etc/c.toml",
      },
    );
    assert.deepEqual(
      parseRuntimeOptions(
        { typeUrl: "type.googleapis.com/runtimeoptions.v1.Options", value: opts("") },
        "c1",
      ),
      {},
    );
    const runc = toBinary(RuncOptionsSchema, create(RuncOptionsSchema, { binaryName: "x" }));
    assert.deepEqual(parseRuntimeOptions({ typeUrl: "containerd.runc.v1.Options", value: runc }, "c1"), {});
  },
});

Deno.test({
  name:
    "parseRuntimeOptions() rejects a relative config_path, garbage and unknown types with InvalidArgument",
  permissions: "none",
  fn() {
    assert.throws(
      () => parseRuntimeOptions({ typeUrl: "runtimeoptions.v1.Options", value: opts("c.toml") }, "c1"),
      {
        code: "InvalidArgument",
        message: 'Invalid runtime options of container "c1": config_path "c.toml" is not an absolute path',
      },
    );
    assert.throws(
      () =>
        parseRuntimeOptions({ typeUrl: "runtimeoptions.v1.Options", value: Uint8Array.of(0x12, 0x09) }, "c1"),
      { code: "InvalidArgument" },
    );
    assert.throws(() => parseRuntimeOptions({ typeUrl: "x.Other", value: new Uint8Array() }, "c1"), {
      code: "InvalidArgument",
    });
  },
});
