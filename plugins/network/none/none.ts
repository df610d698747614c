import type { NetworkAttachment, NetworkBackend } from "../../types.ts";

/** The `none` network model: nothing is attached, the guest keeps only `lo`. */
export class NoNetwork implements NetworkBackend {
  attach(): Promise<NetworkAttachment> {
    return Promise.resolve({ endpoints: [], devices: [] });
  }
  detach(): Promise<void> {
    return Promise.resolve();
  }
}
