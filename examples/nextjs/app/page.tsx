// A Server Component: it renders the client components below on the server (status `idle`,
// no connection) and the browser hydrates them, then the first hook connects.
import { Chat, Status, Ticker } from './live'

export default function Page() {
  return (
    <main>
      <h1>surewire + Next.js</h1>
      <Status />
      <section>
        <h2>Latest tick</h2>
        <Ticker />
      </section>
      <section>
        <h2>Chat</h2>
        <Chat />
      </section>
    </main>
  )
}
