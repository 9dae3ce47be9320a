/**
 * Type-level checks of surewire/react (checked by `tsc --noEmit`; nothing runs): hooks given
 * a client are typed from its schemas, per-`type` handlers get the narrowed message.
 */
import { expectTypeOf } from 'vitest'
import type { RealtimeClient } from '../src'
import { useLatestMessage, useRealtime, useRealtimeMessage, type ClientSnapshot, type MessageType } from '../src/react'
import type { ClientMessage, ServerMessage } from './support/schemas'

type C = RealtimeClient<typeof ServerMessage, typeof ClientMessage>
declare const client: C

export function Typed() {
  const rt = useRealtime(client)
  expectTypeOf(rt).toExtend<ClientSnapshot>()
  expectTypeOf(rt.send).parameter(0).toEqualTypeOf<ClientMessage>()
  // @ts-expect-error not an outgoing message
  void rt.send({ type: 'tick', n: 1 })

  expectTypeOf<MessageType<C>>().toEqualTypeOf<'chat' | 'tick' | 'echo'>()
  useRealtimeMessage('chat', (m) => expectTypeOf(m).toEqualTypeOf<{ type: 'chat'; from: string; text: string }>(), client)
  useRealtimeMessage((m) => expectTypeOf(m).toEqualTypeOf<ServerMessage>(), { client })
  // @ts-expect-error no such message type
  useRealtimeMessage('nope', () => {}, client)

  expectTypeOf(useLatestMessage('tick', client)).toEqualTypeOf<{ type: 'tick'; n: number } | undefined>()
  expectTypeOf(useLatestMessage(undefined, client)).toEqualTypeOf<ServerMessage | undefined>()
  return null
}

/** Without a client or a Register entry, messages are loosely typed but usable. */
export function Untyped() {
  useRealtimeMessage('anything', (m) => expectTypeOf(m.type).toEqualTypeOf<'anything'>())
  expectTypeOf(useRealtime().status).toEqualTypeOf<ClientSnapshot['status']>()
  return null
}
