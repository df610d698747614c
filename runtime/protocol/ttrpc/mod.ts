/**
 * Cocoon's ttRPC layer: framing, envelope, channel, client, server, streams and the typed layer.
 * See PROTOCOL.md for the wire format.
 *
 * @module
 */
export * from "./frame.ts";
export * from "./envelope.ts";
export * from "./metadata.ts";
export * from "./status.ts";
export {
  Channel,
  type ChannelOptions,
  connDuplex,
  type Duplex,
  fileDuplex,
  memoryDuplexPair,
  openFileDuplex,
} from "./channel.ts";
export { type CallOptions, type ClientOptions, type StreamOptions, TtrpcClient } from "./client.ts";
export { type DeviceDuplexOptions, openDeviceDuplex } from "./channel_device.ts";
export { ClientStream } from "./client_stream.ts";
export {
  type CallContext,
  type ListenOptions,
  type MethodHandler,
  type ServerOptions,
  type ServiceHandlers,
  type StreamHandler,
  streamHandler,
  TtrpcServer,
  type UnaryHandler,
} from "./server.ts";
export { ServerStream } from "./server_stream.ts";
export {
  registerTyped,
  type TypedClient,
  typedClient,
  type TypedClientStream,
  type TypedImpl,
  type TypedServerStream,
} from "./typed.ts";
