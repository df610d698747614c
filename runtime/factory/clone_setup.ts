/**
 * Makes a fresh clone of a VM template its own guest, before the sandbox core talks to it: every
 * clone starts with its template's kernel state, so it gets fresh host entropy (ReseedRandomDev:
 * credited and forced into the CRNG), the host's wall clock (SetGuestDateTime: the template's clock
 * stopped when it was saved) and its own hostname (SetHostname: the template's came from its kernel
 * command line). One ttRPC connection over the agent channel, closed afterwards; the agent then
 * serves the core's own connection.
 *
 * @module
 */
import { create, type DescMessage, type DescMethodUnary, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { CloneSetup, Vm } from "../../plugins/types.ts";
import { Agent } from "../protocol/gen/cocoon/agent/v1/agent_pb.ts";
import { Health } from "../protocol/gen/cocoon/agent/v1/health_pb.ts";
import { TtrpcClient } from "../protocol/ttrpc/client.ts";
import { probeStreamBase } from "../agent_client/probe.ts";
import { AgentError, isRuntimeError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";

/** Bytes of host randomness sent to each clone. */
export const RESEED_BYTES = 64;

async function call<I extends DescMessage, O extends DescMessage>(
  c: TtrpcClient,
  m: DescMethodUnary<I, O>,
  req: Parameters<typeof create<I>>[1],
  timeoutMs: number,
): Promise<void> {
  const out = await c.call(m.parent.typeName, m.name, toBinary(m.input, create(m.input, req)), { timeoutMs });
  fromBinary(m.output, out);
}

/** A {@link CloneSetup} speaking to the agent at the VM's unix agent address. */
export function cloneSetup(log: Logger, opts: { timeoutMs?: number } = {}): CloneSetup {
  return async (vm: Vm, o: { hostname: string; signal?: AbortSignal }): Promise<void> => {
    const addr = vm.agentAddress();
    if (addr.kind !== "unix") {
      throw new AgentError(
        "Unimplemented",
        `Cannot set up clone "${vm.id}": its agent is not on a unix socket`,
      );
    }
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
    const t0 = performance.now();
    let last: unknown;
    // The agent's session outlives connections (and was the template's): stream ids must keep
    // increasing across retries and must not collide with the template builder's probes, so start
    // at a random probe slot and go on from the previous connection's next id.
    let firstStreamId = probeStreamBase(crypto.getRandomValues(new Uint16Array(1))[0] ?? 0);
    while (Date.now() < deadline) {
      o.signal?.throwIfAborted();
      let c: TtrpcClient | undefined;
      try {
        c = await TtrpcClient.connect(addr.path, { log, firstStreamId });
        await call(c, Health.method.check, {}, 2000);
        await call(c, Agent.method.reseedRandomDev, {
          data: crypto.getRandomValues(new Uint8Array(RESEED_BYTES)),
        }, 5000);
        await call(c, Agent.method.setGuestDateTime, { time: timestampFromDate(new Date()) }, 5000);
        await call(c, Agent.method.setHostname, { hostname: o.hostname }, 5000);
        log.info("clone set up", { sandbox: vm.id, ms: Math.round(performance.now() - t0) });
        return;
      } catch (e) {
        last = e;
        // a call the agent answered with an error will not succeed on a retry
        if (
          isRuntimeError(e) && e.code !== "Unavailable" && e.code !== "DeadlineExceeded" &&
          e.code !== "NotFound"
        ) {
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        if (c !== undefined) firstStreamId = c.nextStreamId;
        c?.close();
      }
    }
    throw new AgentError(
      isRuntimeError(last) ? last.code : "DeadlineExceeded",
      `Cannot set up clone "${vm.id}": ${last instanceof Error ? last.message : "its agent did not answer"}`,
      { cause: last },
    );
  };
}
