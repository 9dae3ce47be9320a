import { z } from 'zod'

export const ServerMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('chat'), from: z.string(), text: z.string() }),
  z.object({ type: z.literal('tick'), n: z.number().int() }),
  z.object({ type: z.literal('echo'), text: z.string() }),
])
export const ClientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('chat'), text: z.string().max(100_000) }),
  z.object({ type: z.literal('echo'), text: z.string() }),
  z.object({ type: z.literal('count'), n: z.number().int() }),
])
export type ServerMessage = z.infer<typeof ServerMessage>
export type ClientMessage = z.infer<typeof ClientMessage>
