// The app's messages, shared by the browser, the route handler and the custom server.
// (Plain JS so server.mjs can import it without a build step; TypeScript infers the types.)
import { z } from 'zod'

/** Server → client. */
export const ServerMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('chat'), from: z.string(), text: z.string() }),
  z.object({ type: z.literal('tick'), n: z.number().int() }),
])

/** Client → server. */
export const ClientMessage = z.discriminatedUnion('type', [z.object({ type: z.literal('chat'), text: z.string().min(1).max(500) })])
