import { RuntimeError } from "../../errors.ts";
import type { Command } from "../args.ts";

function unsupported(verb: string, why: string): Command {
  return {
    summary: `Not supported: ${why}`,
    usage: `cocoon ${verb} <container-id>`,
    run() {
      return Promise.reject(
        new RuntimeError(
          "Unimplemented",
          `Cannot ${verb} a container: ${verb} is not supported by Cocoon (${why})`,
        ),
      );
    },
  };
}

export const checkpoint: Command = unsupported(
  "checkpoint",
  "a microVM's processes cannot be checkpointed with CRIU",
);
export const restore: Command = unsupported("restore", "there are no CRIU checkpoints to restore from");
