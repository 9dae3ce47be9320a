/**
 * The chat room's messages, shared by the server and the clients. Both sides
 * validate against these schemas at run time, and the types come from them.
 */
import { z } from 'zod'

/** Client → server. */
export const ChatClientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('say'), text: z.string().min(1).max(500) }),
])

/** Server → client. */
export const ChatServerMessage = z.discriminatedUnion('type', [
  /** Sent once per session, right after it opens: the id others will see in `from`. */
  z.object({ type: z.literal('welcome'), id: z.string() }),
  /** Someone (possibly you) said something. */
  z.object({ type: z.literal('said'), from: z.string(), text: z.string() }),
])

export type ChatClientMessage = z.infer<typeof ChatClientMessage>
export type ChatServerMessage = z.infer<typeof ChatServerMessage>
