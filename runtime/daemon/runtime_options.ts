/**
 * containerd's runtime options (`CreateTaskRequest.options`): which Cocoon configuration file a
 * pod uses. containerd 1.6 sends `runtimeoptions.v1.Options{config_path}` for a runtime that is not
 * runc, from CRI's `[...runtimes.cocoon.options] ConfigPath = "..."` or `ctr --runtime-config-path`
 * (the Kata shim reads the same field); runc-style `containerd.runc.v1.Options` carry nothing
 * Cocoon uses and are accepted and ignored. Pure.
 *
 * @module
 */
import { fromBinary } from "@bufbuild/protobuf";
import { RuntimeError } from "../errors.ts";
import { OptionsSchema as RuncOptionsSchema } from "../protocol/gen/containerd/runc/options/oci_pb.ts";
import { OptionsSchema } from "../protocol/gen/containerd/runtimeoptions/v1/api_pb.ts";

export interface RuntimeOptions {
  /** An absolute path to a Cocoon configuration file for the pod. */
  readonly configPath?: string;
}

/** The message name of a type URL (`type.googleapis.com/x.y.Z` or bare `x.y.Z`). */
function typeName(url: string): string {
  return url.slice(url.lastIndexOf("/") + 1);
}

/** Decodes the options Any of container `id`. @throws {RuntimeError} InvalidArgument */
export function parseRuntimeOptions(
  any: { readonly typeUrl: string; readonly value: Uint8Array } | undefined,
  id: string,
): RuntimeOptions {
  if (any === undefined || (any.typeUrl === "" && any.value.length === 0)) return {};
  const name = typeName(any.typeUrl);
  const bad = (why: string, cause?: unknown): RuntimeError =>
    new RuntimeError(
      "InvalidArgument",
      `Invalid runtime options of container "${id}": ${why}`,
      cause === undefined ? {} : { cause },
    );
  if (name === OptionsSchema.typeName) {
    let configPath: string;
    try {
      configPath = fromBinary(OptionsSchema, any.value).configPath;
    } catch (e) {
      throw bad(`"${name}" does not decode`, e);
    }
    if (configPath === "") return {};
    if (!configPath.startsWith("/")) throw bad(`config_path "${configPath}" is not an absolute path`);
    return { configPath };
  }
  if (name === RuncOptionsSchema.typeName) {
    try {
      fromBinary(RuncOptionsSchema, any.value);
    } catch (e) {
      throw bad(`"${name}" does not decode`, e);
    }
    return {};
  }
  throw bad(`type "${any.typeUrl}" is not supported (expected "${OptionsSchema.typeName}")`);
}
