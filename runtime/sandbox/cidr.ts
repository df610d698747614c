/**
 * CIDR text (`10.0.0.2/24`, `fd00::2/64`, or a bare address) to the agent's address shape.
 *
 * @module
 */
import type { IpAddress } from "../agent_client/types.ts";
import { SandboxError } from "../errors.ts";

/** Parses `10.0.0.2/24` (or a bare address: /32, /128). Pure. */
export function parseCidr(cidr: string): IpAddress {
  const [address = "", p] = cidr.split("/");
  const family = address.includes(":") ? 6 : 4;
  const max = family === 4 ? 32 : 128;
  const prefix = p === undefined ? max : Number(p);
  const ok = family === 4
    ? /^\d{1,3}(\.\d{1,3}){3}$/.test(address) && address.split(".").every((o) => Number(o) <= 255)
    : /^[0-9a-fA-F:]+$/.test(address);
  if (!ok || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
    throw new SandboxError(
      "InvalidArgument",
      `Invalid address "${cidr.slice(0, 60)}": expected CIDR notation`,
    );
  }
  return { family, address, prefix };
}
