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
 * The write-through step of one session: outbound messages (appended to the log, skipping ids it
 * already holds, so a retried call after a lost reply adds nothing twice), and, when ARGV[5] is
 * '1', the inbound state. KEYS hash, log, nacks. ARGV: ep, fan-out position, ttl ms, log max
 * entries, inbound flag, lastSeq, forgottenNack, topics JSON, nack count N, then N (seq, frame)
 * pairs, then (id, text) pairs.
 */
export const SYNC_LUA = `
local h = redis.call('HMGET', KEYS[1], 'ep', 'nid')
if h[1] ~= ARGV[1] then return 0 end
local nid = tonumber(h[2])
local n = tonumber(ARGV[9])
local first = 10 + 2 * n
for i = first, #ARGV, 2 do
  local id = tonumber(ARGV[i])
  if id >= nid then
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], id .. '-1', 'm', ARGV[i + 1])
    nid = id + 1
  end
end
redis.call('HSET', KEYS[1], 'nid', nid, 'fp', ARGV[2])
if ARGV[5] == '1' then
  redis.call('HSET', KEYS[1], 'seq', ARGV[6], 'fn', ARGV[7], 'tp', ARGV[8])
  redis.call('DEL', KEYS[3])
  for i = 10, first - 1, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
return 1
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
