/** The demo's messages, shared by the page and the server; both validate against them at run time. */
import { z } from 'zod'

/** Server → client. */
export const DemoServerMessage = z.discriminatedUnion('type', [
  /** Someone said something (`from` is the sender's public connection id). */
  z.object({ type: z.literal('chat'), from: z.string(), text: z.string() }),
  /** A counter the server pushes now and then: "the latest value" kind of data. */
  z.object({ type: z.literal('tick'), n: z.number().int() }),
])

/** Client → server. */
export const DemoClientMessage = z.discriminatedUnion('type', [z.object({ type: z.literal('chat'), text: z.string().min(1).max(500) })])

export type DemoServerMessage = z.infer<typeof DemoServerMessage>
export type DemoClientMessage = z.infer<typeof DemoClientMessage>
