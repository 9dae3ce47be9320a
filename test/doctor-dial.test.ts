/** Which forward proxy doctor uses: --proxy, else HTTPS_PROXY / HTTP_PROXY, exempted by NO_PROXY (curl's reading). */
import { describe, expect, it } from 'vitest'
import { noProxyMatches, proxyFor } from '../src/cli/probes/dial'

const u = (s: string) => new URL(s)

describe('proxyFor', () => {
  it('picks HTTPS_PROXY for https/wss and HTTP_PROXY for http/ws, lower case first', () => {
    const env = { HTTPS_PROXY: 'http://secure:3128', http_proxy: 'http://plain:3128', HTTP_PROXY: 'http://ignored:1' }
    expect(proxyFor(u('https://example.com/realtime'), undefined, env)?.host).toBe('secure:3128')
    expect(proxyFor(u('wss://example.com/realtime'), undefined, env)?.host).toBe('secure:3128')
    expect(proxyFor(u('http://example.com/realtime'), undefined, env)?.host).toBe('plain:3128')
    expect(proxyFor(u('ws://example.com/realtime'), undefined, env)?.host).toBe('plain:3128')
  })

  it('--proxy wins over the environment and NO_PROXY; false means direct', () => {
    const env = { HTTP_PROXY: 'http://env:1', NO_PROXY: '*' }
    expect(proxyFor(u('http://example.com/'), 'proxy.corp:8080', env)?.href).toBe('http://proxy.corp:8080/')
    expect(proxyFor(u('http://example.com/'), false, env)).toBeUndefined()
    expect(proxyFor(u('http://example.com/'), undefined, env)).toBeUndefined()
  })

  it('refuses a proxy scheme it cannot speak', () => {
    expect(() => proxyFor(u('http://example.com/'), 'socks5://127.0.0.1:1080')).toThrow(/only http:\/\//)
  })
})

describe('noProxyMatches', () => {
  it.each([
    ['example.com', 'example.com', 443, true],
    ['example.com', 'api.example.com', 443, true],
    ['.example.com', 'api.example.com', 443, true],
    ['*.example.com', 'api.example.com', 443, true],
    ['example.com', 'badexample.com', 443, false],
    ['example.com:8443', 'example.com', 443, false],
    ['example.com:8443', 'example.com', 8443, true],
    ['localhost, 127.0.0.1', '127.0.0.1', 80, true],
    ['[::1]', '[::1]', 80, true],
    ['', 'example.com', 80, false],
  ] as const)('NO_PROXY=%j, host %s:%i → %s', (list, host, port, expected) => {
    expect(noProxyMatches(list, host, port)).toBe(expected)
  })
})
