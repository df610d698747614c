/**
 * Adapting a containerd spec to a container in a VM. CRI gives host-network pods a hostname but no
 * UTS namespace (they share the node's); in a Cocoon pod the "node" is the VM, whose UTS namespace
 * is not the pod's to rename, so such containers get their own UTS namespace with that hostname
 * (the guest's OCI runtime refuses a hostname without one). Newer 1.x spec versions are written as
 * 1.0.2 for the guest's crun. Pure.
 *
 * @module
 */
import type { JsonObject } from "../oci/spec.ts";
import { isRecord } from "../sys/files.ts";

/** The spec document with a UTS namespace added when it sets a hostname without one. */
export function vmSpecDocument(spec: JsonObject): JsonObject {
  // The guest's crun (Debian 12's 1.8) refuses any ociVersion but 1.0.x ("unknown version
  // specified"); containerd 1.7 writes "1.1.0", whose additions are optional fields.
  const v = spec["ociVersion"];
  const raw = typeof v === "string" && /^1\.[1-9]/.test(v) ? { ...spec, ociVersion: "1.0.2" } : spec;
  const hostname = raw["hostname"];
  if (typeof hostname !== "string" || hostname === "" || !isRecord(raw["linux"])) return raw;
  const linux = raw["linux"];
  const ns = Array.isArray(linux["namespaces"]) ? linux["namespaces"] : [];
  if (ns.some((n) => isRecord(n) && n["type"] === "uts")) return raw;
  return { ...raw, linux: { ...linux, namespaces: [...ns, { type: "uts" }] } };
}
