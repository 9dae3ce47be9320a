import type { TransportKind } from '../protocol'

/**
 * Where a session's frames are written: one WebSocket or one SSE response. The edges
 * (src/server/core) implement it; the session layer only calls it.
 */
export interface Sink {
  readonly kind: TransportKind
  /** The client connected with `notices=1`: it reads `notice` frames (docs/PROTOCOL.md); set by the edge before the session attaches it. */
  notices?: boolean
  /**
   * Write one serialized frame; `id` is set for app messages (SSE puts it in `id:`). Never
   * throws and never blocks: past the connection's `maxBufferedBytes` the sink closes itself
   * as a slow consumer and drops further writes (the session's replay log still has them).
   */
  write(text: string, id?: number): void
  /**
   * End the connection with a WebSocket close code (SSE: the stream ends). The connection is
   * destroyed shortly after, whether or not the client read the rest: it is never left open.
   */
  close(code: number, reason: string): void
  /** Outgoing bytes queued on this connection and not yet taken by the network. */
  bufferedBytes(): number
}
