/**
 * The Lua scripts of the session layer. Every one that changes a session checks its home epoch
 * (`ep`) first and answers 0 when it does not match: the caller was fenced out (another process
 * adopted the session) and must drop it. Keys of one session: `<p>s:<sid>` (hash), `<p>s:<sid>:log`
 * (the replay log, a capped stream whose entry ids are `<message id>-1`), `<p>s:<sid>:n` (nacks).
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
 * inbound flag is '1', the inbound state. KEYS: per session hash, log, nacks. ARGV: fan-out
 * position, ttl ms, log max entries, then per session: ep, inbound flag, [lastSeq, forgottenNack,
 * topics JSON, nack count N, N (seq, frame) pairs] when inbound, message count M, M (id, text)
 * pairs. Returns one result per session, in order: 1 written, 0 fenced (another epoch; nothing of
 * that session written, the others are not affected).
 */
export const SYNC_LUA = `
local out = {}
local a = 4
for s = 1, #KEYS / 3 do
  local hk, lk, nk = KEYS[3 * s - 2], KEYS[3 * s - 1], KEYS[3 * s]
  local ep, inb = ARGV[a], ARGV[a + 1] == '1'
  a = a + 2
  local st, ni, nn
  if inb then
    st = a
    nn = tonumber(ARGV[a + 3])
    ni = a + 4
    a = ni + 2 * nn
  end
  local mn = tonumber(ARGV[a])
  local mi = a + 1
  a = mi + 2 * mn
  local h = redis.call('HMGET', hk, 'ep', 'nid')
  if h[1] ~= ep then
    out[s] = 0
  else
    local nid = tonumber(h[2])
    for i = mi, mi + 2 * mn - 1, 2 do
      local id = tonumber(ARGV[i])
      if id >= nid then
        redis.call('XADD', lk, 'MAXLEN', '~', ARGV[3], id .. '-1', 'm', ARGV[i + 1])
        nid = id + 1
      end
    end
    redis.call('HSET', hk, 'nid', nid, 'fp', ARGV[1])
    if inb then
      redis.call('HSET', hk, 'seq', ARGV[st], 'fn', ARGV[st + 1], 'tp', ARGV[st + 2])
      redis.call('DEL', nk)
      for i = ni, ni + 2 * nn - 1, 2 do redis.call('HSET', nk, ARGV[i], ARGV[i + 1]) end
    end
    redis.call('PEXPIRE', hk, ARGV[2])
    redis.call('PEXPIRE', lk, ARGV[2])
    redis.call('PEXPIRE', nk, ARGV[2])
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
