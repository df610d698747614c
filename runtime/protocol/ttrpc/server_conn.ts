/**
 * Serves one ttRPC connection: validates stream ids, decodes Requests, runs handlers concurrently,
 * feeds Data frames to streaming handlers, and answers errors on the offending stream id while
 * keeping the connection up.
 *
 * @module
 */
import { ProtocolError } from "../../errors.ts";
import type { Logger } from "../../log/logger.ts";
import type { Channel } from "./channel.ts";
import { decodeRequest, encodeResponse, type Request, type Status } from "./envelope.ts";
import { Flags, type FrameEvent, MAX_PAYLOAD, MessageType } from "./frame.ts";
import { fromKeyValues } from "./metadata.ts";
import { ServerStream } from "./server_stream.ts";
import { Code, statusOfError } from "./status.ts";
import type { CallContext, MethodHandler } from "./handler.ts";

/** How the connection finds a handler. */
export type Lookup = (
  service: string,
  method: string,
) => { readonly kind: "found"; readonly handler: MethodHandler } | {
  readonly kind: "missing";
  readonly status: Status;
};

interface Active {
  readonly ctl: AbortController;
  readonly stream: ServerStream | undefined;
  /** Set when the connection already sent the final Response for this id. */
  answered: boolean;
}

const EMPTY = new Uint8Array(0);
const MAX_TIMER_MS = 2 ** 31 - 1;

/** How one connection is served. */
export interface ServeChannelOptions {
  /**
   * The transport outlives its peers (the agent's virtio-serial port): a host may close and a new
   * one connect without the guest seeing the gap, and the new host numbers its streams afresh. A
   * Request id at or below the last one, on no active stream, then starts a new id sequence instead
   * of being refused. Off for sockets, where every peer has its own connection.
   */
  readonly peerMayRestart?: boolean;
}

/** Serves `channel` until it closes; in-flight handlers are then aborted with `Unavailable`. */
export async function serveChannel(
  channel: Channel,
  lookup: Lookup,
  log: Logger,
  opts: ServeChannelOptions = {},
): Promise<void> {
  const active = new Map<number, Active>();
  let last = 0;

  const sendStatus = (id: number, status: Status): Promise<void> =>
    channel.send(id, MessageType.Response, 0, encodeResponse({ status, payload: EMPTY })).catch(() => {});

  const onFrame = async (ev: FrameEvent): Promise<void> => {
    const { streamId: id, type } = ev.header;
    if (ev.kind === "oversized") {
      log.limited.warn("oversized frame discarded", { streamId: id, type, length: ev.header.length });
      const st: Status = {
        code: Code.RESOURCE_EXHAUSTED,
        message:
          `Cannot accept frame on stream ${id}: payload of ${ev.header.length} bytes exceeds ${MAX_PAYLOAD}`,
        details: [],
      };
      const a = active.get(id);
      if (a !== undefined && type === MessageType.Data) {
        a.answered = true; // the status below ends the call; the aborted handler stays silent
        a.ctl.abort(new ProtocolError("ResourceExhausted", st.message));
        a.stream?.finish(new ProtocolError("ResourceExhausted", st.message));
      }
      if (type === MessageType.Request && id % 2 === 1 && id > last) last = id;
      await sendStatus(id, st);
      return;
    }
    if (type === MessageType.Data) {
      const s = active.get(id)?.stream;
      if (s === undefined || !s.inboundOpen) return; // not open for input: ignored, like upstream
      const final = (ev.header.flags & Flags.RemoteClosed) !== 0;
      const msg = s.borrow && !final ? ev.payload : ev.payload.slice(); // payloads are borrowed from the reader
      const wait = (ev.header.flags & Flags.NoData) === 0 ? s.deliver(msg) : undefined;
      if (final) s.endInbound();
      if (wait !== undefined) await wait;
      return;
    }
    if (type !== MessageType.Request) return; // unknown types are ignored for forward compatibility
    if (id % 2 === 0) {
      return sendStatus(id, invalid("StreamID must be odd for client initiated streams"));
    }
    if (id <= last) {
      if (!opts.peerMayRestart || active.has(id)) {
        return sendStatus(id, invalid("StreamID cannot be re-used and must increment"));
      }
      log.info("stream ids restarted: a new peer on the same channel", { streamId: id, last });
    }
    last = id;
    let req: Request;
    try {
      req = decodeRequest(ev.payload.slice()); // payloads are borrowed from the reader
    } catch (e) {
      return sendStatus(id, invalid(e instanceof Error ? e.message : String(e)));
    }
    const found = lookup(req.service, req.method);
    if (found.kind === "missing") return sendStatus(id, found.status);
    start(id, ev.header.flags, req, found.handler);
  };

  const start = (id: number, flags: number, req: Request, handler: MethodHandler): void => {
    const what = `"${req.service}/${req.method}"`;
    const ctl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let deadline: number | undefined;
    if (req.timeoutNano !== 0n) {
      const ms = Math.max(0, Math.min(MAX_TIMER_MS, Number(req.timeoutNano / 1_000_000n)));
      deadline = Date.now() + ms;
      timer = setTimeout(
        () =>
          ctl.abort(new ProtocolError("DeadlineExceeded", `Call ${what} exceeded its deadline of ${ms} ms`)),
        ms,
      );
    }
    const ctx: CallContext = {
      service: req.service,
      method: req.method,
      streamId: id,
      metadata: fromKeyValues(req.metadata),
      signal: ctl.signal,
      deadline,
    };
    const stream = typeof handler === "function" ? undefined : new ServerStream(
      id,
      req.payload,
      (msg) => channel.send(id, MessageType.Data, 0, msg),
      { inboundOpen: (flags & Flags.RemoteOpen) !== 0, highWaterMark: 16, borrow: handler.borrow ?? false },
    );
    const entry: Active = { ctl, stream, answered: false };
    active.set(id, entry);
    const run = async (): Promise<void> => {
      try {
        if (typeof handler === "function") {
          const out: unknown = await handler(req.payload, ctx);
          if (!(out instanceof Uint8Array)) {
            throw new TypeError(`handler of ${what} returned a non-Uint8Array`);
          }
          const resp = encodeResponse({ status: undefined, payload: out });
          if (resp.length > MAX_PAYLOAD) {
            await sendStatus(id, {
              code: Code.RESOURCE_EXHAUSTED,
              message: `Cannot answer ${what}: response of ${resp.length} bytes exceeds ${MAX_PAYLOAD}`,
              details: [],
            });
          } else {
            await channel.send(id, MessageType.Response, 0, resp).catch(() => {});
          }
        } else if (stream !== undefined) {
          await handler.handle(stream, ctx);
          stream.finish(new ProtocolError("Cancelled", `Stream ${what} finished`));
          if (!entry.answered) {
            await channel.send(id, MessageType.Data, Flags.RemoteClosed | Flags.NoData, EMPTY).catch(
              () => {},
            );
          }
        }
      } catch (e) {
        stream?.finish(e);
        if (!channel.closed && !entry.answered) await sendStatus(id, statusOfError(e, log, what));
      } finally {
        if (timer !== undefined) clearTimeout(timer);
        active.delete(id);
      }
    };
    void run();
  };

  try {
    for (;;) {
      const ev = await channel.recv();
      if (ev === null) break;
      await onFrame(ev);
    }
  } catch (e) {
    log.limited.warn("connection failed", { error: e instanceof Error ? e.message : String(e) });
  } finally {
    channel.close();
    const gone = new ProtocolError("Unavailable", "Cannot complete call: connection closed");
    for (const a of active.values()) {
      a.ctl.abort(gone);
      a.stream?.finish(gone);
    }
  }
}

function invalid(message: string): Status {
  return { code: Code.INVALID_ARGUMENT, message, details: [] };
}
