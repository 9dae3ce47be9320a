/**
 * The Lua scripts of the session layer. Every one that changes a session checks its home epoch
 * (`ep`) first and answers 0 when it does not match: the caller was fenced out (another process
 * adopted the session) and must drop it. Keys of one session: `<p>s:<sid>` (hash), `<p>s:<sid>:log`
 * (the replay log, a capped stream whose entry ids are `<first message id>-1`; src/redis/log.ts),
 * `<p>s:<sid>:n` (nacks).
 */

/** Create a session: KEYS hash; ARGV home, conn.id, identity key, user JSON, ttl ms, fan-out position. */
export const CREATE_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'home', ARGV[1], 'ep', '1', 'cid', ARGV[2], 'ik', ARGV[3], 'u', ARGV[4], 'seq', '0', 'nid', '1', 'fn', '0', 'tp', '[]', 'fp', ARGV[6], 'rel', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`

/**
 * The write-through step of every session in a batch (one call per tick for all the sessions a
 * process homes, split by size): per session, outbound messages (appended to its log, skipping
 * ids it already holds, so a retried call after a lost reply adds nothing twice) and, when its
 * inbound flag is set, the inbound state. KEYS: per session hash, log, nacks. ARGV: fan-out
 * position, ttl ms, log max entries (message ids kept: MINID), then per session: ep, flags (1:
 * inbound, 2: renew the TTLs), [lastSeq, forgottenNack, topics JSON, nack count N, N (seq, frame)
 * pairs] when inbound, run count R, R runs of (first id, message count C, the C frame texts joined
 * by the record separator \x1e). A run is written as ONE log entry `<first id>-1 b <joined texts>`
 * (one message: `<id>-1 m <text>`, the only shape before batched entries; src/redis/log.ts), so
 * the script does no work per message. The TTLs are renewed only when the flag asks (the writer
 * does on a session's first write and then every ttl / 4; the touch timer renews them too) and
 * whenever the nacks hash is rewritten (a new key): no key of a session is ever left without one.
 * Returns one result per session, in order: 1 written, 0 fenced (another epoch; nothing of that
 * session written, the others are not affected).
 */
export const SYNC_LUA = `
local out = {}
local a = 4
for s = 1, #KEYS / 3 do
  local hk, lk, nk = KEYS[3 * s - 2], KEYS[3 * s - 1], KEYS[3 * s]
  local ep, fl = ARGV[a], tonumber(ARGV[a + 1])
  local inb, renew = fl % 2 == 1, fl >= 2
  a = a + 2
  local st, ni, nn
  if inb then
    st = a
    nn = tonumber(ARGV[a + 3])
    ni = a + 4
    a = ni + 2 * nn
  end
  local rn = tonumber(ARGV[a])
  local ri = a + 1
  a = ri + 3 * rn
  local h = redis.call('HMGET', hk, 'ep', 'nid')
  if h[1] ~= ep then
    out[s] = 0
  else
    local nid = tonumber(h[2])
    for r = ri, ri + 3 * rn - 1, 3 do
      local first, n, texts = tonumber(ARGV[r]), tonumber(ARGV[r + 1]), ARGV[r + 2]
      local top = first + n - 1
      if top >= nid then
        if first < nid then
          -- A retry after a lost reply (more messages queued since): skip the ones already held.
          local at = 0
          for _ = first, nid - 1 do at = string.find(texts, '\\30', at + 1, true) end
          texts = string.sub(texts, at + 1)
          first = nid
        end
        local min = math.max(0, top + 1 - tonumber(ARGV[3]))
        redis.call('XADD', lk, 'MINID', '~', min, first .. '-1', first == top and 'm' or 'b', texts)
        nid = top + 1
      end
    end
    redis.call('HSET', hk, 'nid', nid, 'fp', ARGV[1])
    if inb then
      redis.call('HSET', hk, 'seq', ARGV[st], 'fn', ARGV[st + 1], 'tp', ARGV[st + 2])
      redis.call('DEL', nk)
      for k = ni, ni + 2 * nn - 1, 2 do redis.call('HSET', nk, ARGV[k], ARGV[k + 1]) end
      if nn > 0 and not renew then redis.call('PEXPIRE', nk, ARGV[2]) end
    end
    if renew then
      redis.call('PEXPIRE', hk, ARGV[2])
      redis.call('PEXPIRE', lk, ARGV[2])
      redis.call('PEXPIRE', nk, ARGV[2])
    end
    out[s] = 1
  end
end
return out
`

/**
 * Take the session over (compare-and-set): KEYS hash, log, nacks; ARGV expected home, expected
 * epoch, new home, ttl ms. Nil: no such session. {'moved'}: someone else moved it first.
 * Otherwise {'ok', epoch, hash fields, nack pairs, log entries}.
 */
export const ADOPT_LUA = `
local h = redis.call('HMGET', KEYS[1], 'home', 'ep', 'rel')
if not h[1] then return nil end
if h[3] ~= '1' and (h[1] ~= ARGV[1] or h[2] ~= ARGV[2]) then return {'moved'} end
local ep = tostring(tonumber(h[2]) + 1)
redis.call('HSET', KEYS[1], 'home', ARGV[3], 'ep', ep, 'rel', '0')
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
return {'ok', ep, redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[3]), redis.call('XRANGE', KEYS[2], '-', '+')}
`

/** Mark released (drain): KEYS hash; ARGV ep. */
export const RELEASE_LUA = `
if redis.call('HGET', KEYS[1], 'ep') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'rel', '1')
return 1
`

/** The session ended: remove it. KEYS hash, log, nacks; ARGV ep. */
export const END_LUA = `
if redis.call('HGET', KEYS[1], 'ep') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
`

/** Is `ep` still the epoch? KEYS hash; ARGV ep. Renews the TTL when it is (KEYS log, nacks too). */
export const TOUCH_LUA = `
if redis.call('HGET', KEYS[1], 'ep') ~= ARGV[1] then return 0 end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
return 1
`
