import { RuntimeError } from "../../errors.ts";
import { callHolder } from "../../holder/client.ts";
import type { Command } from "../args.ts";
import { idArg, liveSocket, lookup, ociEnv, parseVerb } from "../oci_args.ts";
import { resourcesFromFlags } from "../oci_resources.ts";

export const update: Command = {
  summary: "Change a container's resource limits (--resources FILE or single flags)",
  usage:
    "cocoon update [--resources FILE|-] [--memory M] [--cpu-quota N] [--cpu-period N] [--cpu-shares N] " +
    "[--cpuset-cpus L] [--pids-limit N] <container-id>",
  async run(args, ctx) {
    const { values, positionals } = parseVerb("update", args, {
      resources: { type: "string", short: "r" },
      memory: { type: "string" },
      "memory-swap": { type: "string" },
      "memory-reservation": { type: "string" },
      "kernel-memory": { type: "string" },
      "kernel-memory-tcp": { type: "string" },
      "cpu-shares": { type: "string" },
      "cpu-period": { type: "string" },
      "cpu-quota": { type: "string" },
      "cpu-rt-period": { type: "string" },
      "cpu-rt-runtime": { type: "string" },
      "cpuset-cpus": { type: "string" },
      "cpuset-mems": { type: "string" },
      "pids-limit": { type: "string" },
      "blkio-weight": { type: "string" },
      "l3-cache-schema": { type: "string" },
      "mem-bw-schema": { type: "string" },
    });
    const id = idArg("update", positionals);
    let base: Record<string, unknown> = {};
    if (values.resources !== undefined) {
      const text = values.resources === "-"
        ? await new Response(Deno.stdin.readable).text()
        : await Deno.readTextFile(values.resources);
      let x: unknown;
      try {
        x = JSON.parse(text);
      } catch (e) {
        throw new RuntimeError(
          "InvalidArgument",
          `Invalid --resources "${values.resources}": it is not JSON`,
          { cause: e },
        );
      }
      if (typeof x !== "object" || x === null || Array.isArray(x)) {
        throw new RuntimeError(
          "InvalidArgument",
          `Invalid --resources "${values.resources}": expected an object`,
        );
      }
      base = { ...x };
    }
    const pick = (k: keyof typeof values) => {
      const v = values[k];
      return typeof v === "string" ? v : undefined;
    };
    const flags = {
      memory: pick("memory"),
      memorySwap: pick("memory-swap"),
      memoryReservation: pick("memory-reservation"),
      cpuShares: pick("cpu-shares"),
      cpuPeriod: pick("cpu-period"),
      cpuQuota: pick("cpu-quota"),
      cpusetCpus: pick("cpuset-cpus"),
      cpusetMems: pick("cpuset-mems"),
      pidsLimit: pick("pids-limit"),
      blkioWeight: pick("blkio-weight"),
    };
    const resources = resourcesFromFlags(
      Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)),
      base,
    );
    if (Object.keys(resources).length === 0) {
      throw new RuntimeError(
        "InvalidArgument",
        'Invalid arguments for "update": give --resources or a limit flag',
      );
    }
    const v = await lookup(await ociEnv(ctx), id);
    await callHolder(liveSocket(v, "update"), { op: "update", resources });
    return 0;
  },
};
