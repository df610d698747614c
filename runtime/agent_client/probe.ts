/**
 * Stream ids of the agent's probe connections (the sandbox's dial and the factory's clone set-up).
 *
 * @module
 */

/** Stream ids each probe connection may use before the next one starts (a probe sends a few). */
export const PROBE_STREAM_STRIDE = 1 << 16;

/**
 * The first stream id of the `n`th probe connection of one dial. The probes' requests that the guest
 * had not read when their connection closed stay queued in the virtio-serial port, and the agent
 * answers them, in one session, on whichever connection is open when it gets to them: every probe
 * connection therefore uses ids above the earlier ones', so a stale reply matches no call (with ids
 * restarting at 1, a stale Health.Check reply was taken as the answer to CreateSandbox, and the
 * shared directory was never mounted in the guest). Odd, below 2^32. Pure.
 */
export function probeStreamBase(n: number): number {
  return (n % 0xffff) * PROBE_STREAM_STRIDE + 1;
}
