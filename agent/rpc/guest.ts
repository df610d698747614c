/**
 * Guest RPCs: GetGuestDetails, SetGuestDateTime, OnlineCPUMem, CopyFile, GetMetrics, and for clones
 * of a VM template ReseedRandomDev and SetHostname.
 *
 * @module
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { RuntimeError } from "../../runtime/errors.ts";
import { Agent } from "../../runtime/protocol/gen/cocoon/agent/v1/agent_pb.ts";
import type { UnaryHandler } from "../../runtime/protocol/ttrpc/server.ts";
import { AGENT_VERSION, type AgentCore } from "../core.ts";
import { copyFileChunk } from "../guest/copy_file.ts";
import { guestDetails, guestMetrics, onlineCpuMem } from "../guest/details.ts";
import { reseedRandom, setHostname } from "../sys/libc.ts";
import { unary } from "./_codec.ts";

/** Bytes of host randomness ReseedRandomDev accepts (the kernel takes at most a page per call). */
export const MAX_RESEED_BYTES = 4096;

export function guestHandlers(core: AgentCore): [string, UnaryHandler][] {
  return [
    unary(Agent.method.getGuestDetails, async () => {
      const d = await guestDetails(core.paths);
      return {
        kernelRelease: d.kernelRelease,
        agentVersion: AGENT_VERSION,
        memoryBlockSizeBytes: BigInt(d.memoryBlockSizeBytes),
        onlineCpus: d.onlineCpus,
        totalMemoryBytes: BigInt(d.totalMemoryBytes),
        memoryHotplugProbe: d.memoryHotplugProbe,
      };
    }),
    unary(Agent.method.setGuestDateTime, (req) => {
      if (!req.time) throw new RuntimeError("InvalidArgument", "Cannot set the guest clock: no time given");
      core.setTime(timestampDate(req.time));
      return {};
    }),
    unary(Agent.method.onlineCPUMem, async (req) => {
      const r = await onlineCpuMem(core.paths, { cpuOnly: req.cpuOnly, wait: req.wait, cpus: req.cpus });
      core.log.info("onlined", r);
      return {};
    }),
    unary(Agent.method.copyFile, async (req) => {
      await copyFileChunk({
        path: req.path,
        fileSize: Number(req.fileSize),
        fileMode: req.fileMode,
        dirMode: req.dirMode,
        uid: req.uid,
        gid: req.gid,
        offset: Number(req.offset),
        data: req.data,
        symlinkTarget: req.symlinkTarget,
      });
      return {};
    }),
    unary(Agent.method.getMetrics, async () => ({ text: await guestMetrics(core.paths) })),
    unary(Agent.method.reseedRandomDev, (req) => {
      if (req.data.length < 16 || req.data.length > MAX_RESEED_BYTES) {
        throw new RuntimeError(
          "InvalidArgument",
          `Cannot reseed the guest RNG: expected 16 to ${MAX_RESEED_BYTES} bytes: got ${req.data.length}`,
        );
      }
      reseedRandom(req.data);
      core.log.info("random pool reseeded", { bytes: req.data.length });
      return {};
    }),
    unary(Agent.method.setHostname, (req) => {
      if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(req.hostname)) {
        throw new RuntimeError(
          "InvalidArgument",
          `Cannot set the hostname to "${req.hostname.slice(0, 80)}"`,
        );
      }
      setHostname(req.hostname);
      return {};
    }),
  ];
}
