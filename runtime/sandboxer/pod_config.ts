/**
 * What the Sandbox service reads from containerd's CreateSandbox `options`: containerd 1.7's CRI
 * passes the pod's `runtime.v1.PodSandboxConfig` there (packed in a google.protobuf.Any); its
 * annotations (field 7, map<string,string>) carry Cocoon's per-pod overrides
 * (`io.cocoon.config.*`, `io.katacontainers.config.*`).
 *
 * @module
 */
import type { Any } from "@bufbuild/protobuf/wkt";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { RuntimeError } from "../errors.ts";

/** Type URL suffix of CRI's PodSandboxConfig. */
export const POD_SANDBOX_CONFIG = "runtime.v1.PodSandboxConfig";
const ANNOTATIONS_FIELD = 7;

function mapEntry(buf: Uint8Array): [string, string] {
  const rd = new BinaryReader(buf);
  let k = "", v = "";
  while (rd.pos < rd.len) {
    const [no, wt] = rd.tag();
    if (no === 1 && wt === WireType.LengthDelimited) k = rd.string();
    else if (no === 2 && wt === WireType.LengthDelimited) v = rd.string();
    else rd.skip(wt, no);
  }
  return [k, v];
}

/**
 * The annotations of the PodSandboxConfig in `options`; `{}` when `options` holds something else
 * or nothing. Pure.
 *
 * @throws {RuntimeError} `InvalidArgument` when a PodSandboxConfig does not decode.
 */
export function podAnnotations(options: Any | undefined): Record<string, string> {
  if (options === undefined || !options.typeUrl.endsWith(POD_SANDBOX_CONFIG)) return {};
  const out: Record<string, string> = {};
  try {
    const rd = new BinaryReader(options.value);
    while (rd.pos < rd.len) {
      const [no, wt] = rd.tag();
      if (no === ANNOTATIONS_FIELD && wt === WireType.LengthDelimited) {
        const [k, v] = mapEntry(rd.bytes());
        if (k !== "") out[k] = v;
      } else rd.skip(wt, no);
    }
  } catch (cause) {
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid sandbox options "${options.typeUrl}": ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      { cause },
    );
  }
  return out;
}
