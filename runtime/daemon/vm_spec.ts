/**
 * Adapting a containerd spec to a container in a VM. CRI gives host-network pods a hostname but no
 * UTS namespace (they share the node's); in a Cocoon pod the "node" is the VM, whose UTS namespace
 * is not the pod's to rename, so such containers get their own UTS namespace with that hostname
 * (the guest's OCI runtime refuses a hostname without one). Pure.
 *
 * @module
 */
import type { JsonObject } from "../oci/spec.ts";

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The spec document with a UTS namespace added when it sets a hostname without one. */
export function vmSpecDocument(raw: JsonObject): JsonObject {
  const hostname = raw["hostname"];
  if (typeof hostname !== "string" || hostname === "" || !isRecord(raw["linux"])) return raw;
  const linux = raw["linux"];
  const ns = Array.isArray(linux["namespaces"]) ? linux["namespaces"] : [];
  if (ns.some((n) => isRecord(n) && n["type"] === "uts")) return raw;
  return { ...raw, linux: { ...linux, namespaces: [...ns, { type: "uts" }] } };
}
