/**
 * The guest agent's channel: a virtio-serial port named `cocoon.agent` whose host side is a unix
 * socket QEMU listens on (guest: /dev/virtio-ports/cocoon.agent), or vhost-vsock.
 *
 * @module
 */
import { HypervisorError } from "../../../../runtime/errors.ts";
import { LISTEN_FD, listenChardev, type QemuArgsInput, virtioDriver } from "./types.ts";

/** Name of the virtio-serial port the guest agent opens. */
const AGENT_PORT_NAME = "cocoon.agent";

/** The vsock CID of the VM (from its vsock device) when the agent channel is vsock. */
export function agentCid(input: Pick<QemuArgsInput, "vm">): number {
  const dev = input.vm.devices.find((d) => d.kind === "vsock");
  if (dev === undefined || dev.kind !== "vsock") {
    throw new HypervisorError(
      "InvalidArgument",
      `Cannot configure VM "${input.vm.id}": agent channel "vsock" needs a device of kind "vsock"`,
    );
  }
  return dev.cid;
}

export function agentArgs(input: QemuArgsInput): string[] {
  if (input.vm.agentChannel === "vsock") {
    agentCid(input); // validates; the vsock device itself comes from devices.ts
    return [];
  }
  return [
    "-device",
    `${virtioDriver("virtio-serial", input.qemu)},id=vserial0`,
    "-chardev",
    listenChardev(input, "agent", LISTEN_FD.agent, input.paths.agentSocket),
    "-device",
    `virtserialport,bus=vserial0.0,chardev=agent,name=${AGENT_PORT_NAME}`,
  ];
}
