/**
 * A codec says how the client's frames map onto the wire: which URLs and headers the
 * transports request, how a frame is written, and how what arrives is read. The two
 * transports (websocket.ts, sse.ts) are the same for every codec; the surewire protocol
 * below is one codec, `compat()` (compat.ts) another. Shaped after centrifuge-js's
 * encoder/decoder pair and tRPC's WebSocket `Encoder`, plus the request side, because a
 * plain backend also differs in its URLs, headers and POST bodies.
 */
import { FrameError } from '../errors'
import { PROTOCOL_VERSION, decodeServerFrame, toServerFrame, type ClientFrame, type SequencedClientFrame, type ServerFrame, type QUERY } from '../protocol'
import { parseErrorBody, type ServerReason } from './http-body'
import type { TransportKind, TransportParams } from './transport'
import { withQuery, type Endpoints } from './url'

/** An HTTP request a transport makes (the SSE GET, a POST). */
export interface WireRequest {
  url: string
  headers: Record<string, string>
}

/**
 * One client frame, encoded:
 * - `{ wire }`: the text to write (a WebSocket message, or one element of a POST body).
 *   `ackWhenWritten`: the backend sends no acks, so the transport reports `{t:'ack'}` for
 *   the frame's `seq` itself once it is written (WebSocket).
 * - `{ reply }`: nothing to write; the transport reports this frame back instead (a local pong,
 *   a nack for something the backend cannot express).
 * - `null`: nothing to write and nothing to report (e.g. `bye` to a backend without sessions).
 */
export type Encoded = { wire: string; ackWhenWritten?: boolean } | { reply: ServerFrame } | null

/** What a POST's answer means: frames to report (bad ones as FrameError), or a refusal that ends the transport. */
export type PostAnswer = { frames: (ServerFrame | FrameError)[] } | ({ refused: true } & ServerReason)

export interface Codec {
  readonly name: string
  /** The WebSocket URL (browsers cannot set WebSocket headers, so a token goes in the query). */
  websocketUrl(endpoints: Endpoints, params: TransportParams): string
  /** The SSE GET. */
  eventsRequest(endpoints: Endpoints, params: TransportParams): WireRequest
  /** A POST; `sid` is the session from the stream's hello. */
  postRequest(endpoints: Endpoints, params: TransportParams, sid: string): WireRequest
  /**
   * How encoded frames become POST bodies: `array` puts every frame written together into one JSON
   * array (split so no body exceeds the server's limit), `single` sends one frame per POST.
   */
  readonly postBody: 'array' | 'single'
  /** Frames to report as soon as a connection opens, before anything from the wire (compat: a made-up hello). */
  opened?(kind: TransportKind): ServerFrame | undefined
  /** Encode one client frame for `kind`. Never throws for a frame the state machine built. */
  encode(frame: ClientFrame, kind: TransportKind): Encoded
  /** Decode one WebSocket text message or SSE event's data. Never throws: a bad frame comes back as a FrameError. */
  decode(text: string): ServerFrame | FrameError
  /** An SSE comment line (`: …`): a frame to report for it, if the backend's comments mean liveness. */
  comment?(): ServerFrame | undefined
  /** Read a POST's answer. `seqs`: the sequenced frames that POST carried. */
  postAnswer(status: number, text: string, seqs: readonly number[]): PostAnswer
}

/**
 * A `msg` frame the outbox hands to a transport may carry its `d` already serialised under this
 * key (the client serialised it once, for the size check): a codec that writes `d` as JSON can use
 * it instead of serialising again. A symbol, so `JSON.stringify(frame)` and structured clones
 * (the tabs' BroadcastChannel) never see it.
 */
export const serialisedData: unique symbol = Symbol('surewire.d')
/** A sequenced frame as the outbox hands it out. */
export type OutgoingFrame = SequencedClientFrame & { [serialisedData]?: string }

/** @deprecated The `protocol` option takes a Codec; this is its old name. */
export type Protocol = Codec

/** The POST body for frames encoded together: one JSON array, or the frame itself for `single`. */
export function postBody(codec: Codec, wires: readonly string[]): string {
  return codec.postBody === 'single' ? wires[0]! : `[${wires.join(',')}]`
}

function bearer(token: string | undefined): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {}
}

/** A URL's query: QUERY's names written out (shorter in the bundle than looking them up; the type keeps them in step) and `notices`. */
type Query = { [K in (typeof QUERY)[keyof typeof QUERY] | 'notices']?: string | number | undefined }
const query = (url: URL | string, q: Query) => withQuery(url, { v: PROTOCOL_VERSION, ...q } satisfies Query)

/** The surewire protocol, version 1 (docs/PROTOCOL.md). */
export const surewireCodec: Codec = {
  name: 'surewire',
  postBody: 'array',
  websocketUrl(endpoints, p) {
    // notices: this client reads `notice` frames (docs/PROTOCOL.md)
    return query(endpoints.websocket, { sid: p.sid, last: p.sid ? p.lastId : undefined, access_token: p.token, notices: 1 })
  },
  eventsRequest(endpoints, p) {
    const headers: Record<string, string> = { Accept: 'text/event-stream', ...bearer(p.token) }
    if (p.sid) headers['Last-Event-ID'] = String(p.lastId)
    return { url: query(endpoints.sse, { sid: p.sid, notices: 1 }), headers }
  },
  postRequest(endpoints, p, sid) {
    return { url: query(endpoints.post, { sid }), headers: { 'Content-Type': 'application/json', ...bearer(p.token) } }
  },
  encode(frame) {
    const d = frame.t === 'msg' ? (frame as OutgoingFrame)[serialisedData] : undefined
    // The same text JSON.stringify(frame) gives, built around the JSON of `d` made once by send().
    return { wire: d === undefined ? JSON.stringify(frame) : `{"t":"msg","d":${d},"seq":${(frame as OutgoingFrame).seq}}` }
  },
  decode: decodeServerFrame,
  postAnswer(status, text) {
    if (status !== 200) return { refused: true, ...parseErrorBody(text) }
    let replies: unknown
    try {
      replies = JSON.parse(text)
    } catch {
      replies = undefined
    }
    if (!Array.isArray(replies)) return { frames: [new FrameError('POST response is not a JSON array of frames', text.slice(0, 200))] }
    return { frames: replies.map((r) => toServerFrame(r, text)) }
  },
}
