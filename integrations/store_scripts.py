"""The Lua scripts behind :class:`integrations.store.Store`: each is one round trip and
runs atomically in Redis, so a read-decide-write needs two round trips and no WATCH.

``COMMIT`` writes one incident version and everything derived from it (indexes, due
time in the due index (and a wake for the workers' clock loops when it moved earlier),
the group's pointer and digest, pending-page queues, metrics) only if
the incident is still at the version the decision was made from — and, for a webhook,
only if the group still points where it pointed then. Otherwise it writes nothing and
answers ``conflict``; the caller reads again and decides again.

``READ_GROUP`` is the webhook's first and, for a re-send, only round trip: every
policy's digest (a re-send matches them all and nothing else is read), else each
policy's current incident, a fresh incident id where one may open, and the version
keys of calendars, handoffs and maintenance windows, so the process knows whether
its cached copies are current without asking again.
"""
from __future__ import annotations

from integrations import keys

# KEYS: 1 incident, 2 group pointer, 3 group digest, 4 all incidents, 5 open incidents, 6 the due index,
#       7 metrics hash, 8 the due index's wake list, 9 the incident's alert hash (resolved alerts out of the hot record),
#       10 resolved incidents (by resolved time, for the retention purge),
#       11.. one pending-page queue per page (same order as the page ARGV), then — only when
#       ARGV[13] > 0 — the incident's follower cursors (keys.follow_cursor)
# ARGV: 1 expected version ("0": the incident must not exist yet),
#       2 group guard ("*": not a webhook write — the group is left alone unless it names this
#         incident; else the group pointer's expected value, "" for none, and this write takes it),
#       3 id, 4 incident JSON, 5 created (epoch s), 6 "1" if open, 7 the digest of the payload
#       applied ("" for a write that applied none: the group's digest keeps its alerts part),
#       8 status, 9 due (epoch s) or "", 10 the incident's due-index member (keys.due_incident),
#       11 number of metric pairs, 12 resolved (epoch s) or "" while open,
#       13 number of followers to wake (0: the timeline did not grow, or none is configured; a
#       follower whose entry is in the index keeps its time: due already, or a sink backing off),
#       14 when their entries are due (epoch s), 15 the timeline's length before this write (a
#       follower with no cursor yet starts there), 16 its length after (kept beside the cursors,
#       field "#timeline": the repair pass compares without reading incidents), then
#       (due-index member, sink) per follower,
#       then (field, amount)
#       metric pairs, then the number of alert-hash pairs and (fingerprint, alert JSON or ""
#       to remove) pairs, then (member, score or "" to remove) per page.
# The group digest reads "<payload digest>:<incident id>:<status>".
COMMIT = """
local raw = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if raw then return 'conflict' end
else
  if not raw then return 'conflict' end
  local version = string.match(raw, ',"version":(%d+)}$')
  if not version then version = tostring(cjson.decode(raw)['version']) end
  if version ~= ARGV[1] then return 'conflict' end
end
local id = ARGV[3]
local owner = redis.call('GET', KEYS[2])
if ARGV[2] ~= '*' then
  if (owner or '') ~= ARGV[2] then return 'conflict' end
  owner = id
  redis.call('SET', KEYS[2], id)
elseif not owner then
  owner = id
  redis.call('SET', KEYS[2], id)
end
redis.call('SET', KEYS[1], ARGV[4])
if owner == id then
  local applied = ARGV[7]
  if applied == '' then applied = string.match(redis.call('GET', KEYS[3]) or '', '^([^:]*):') or '-' end
  redis.call('SET', KEYS[3], applied .. ':' .. id .. ':' .. ARGV[8])
end
redis.call('ZADD', KEYS[4], ARGV[5], id)
if ARGV[6] == '1' then redis.call('ZADD', KEYS[5], ARGV[5], id) else redis.call('ZREM', KEYS[5], id) end
if ARGV[9] == '' then redis.call('ZREM', KEYS[6], ARGV[10])
else
  local was = redis.call('ZSCORE', KEYS[6], ARGV[10])
  redis.call('ZADD', KEYS[6], ARGV[9], ARGV[10])
  if not was or tonumber(ARGV[9]) < tonumber(was) then  -- due earlier than before: wake a clock loop
    redis.call('LPUSH', KEYS[8], 'wake')
    redis.call('LTRIM', KEYS[8], 0, 7)
  end
end
if ARGV[12] == '' then redis.call('ZREM', KEYS[10], id) else redis.call('ZADD', KEYS[10], ARGV[12], id) end
local followers = tonumber(ARGV[13])
local last_page_key = #KEYS
local i = 17
if followers > 0 then
  last_page_key = #KEYS - 1
  redis.call('HSET', KEYS[#KEYS], '#timeline', ARGV[16])
  local woke = false
  for _ = 1, followers do  -- each follower's entry, due now unless it has one (due, or a sink's retry time)
    if redis.call('ZADD', KEYS[6], 'NX', ARGV[14], ARGV[i]) == 1 then woke = true end
    redis.call('HSETNX', KEYS[#KEYS], ARGV[i + 1], ARGV[15])
    i = i + 2
  end
  if woke then
    redis.call('LPUSH', KEYS[8], 'wake')
    redis.call('LTRIM', KEYS[8], 0, 7)
  end
end
for _ = 1, tonumber(ARGV[11]) do
  redis.call('HINCRBYFLOAT', KEYS[7], ARGV[i], ARGV[i + 1])
  i = i + 2
end
local n_alerts = tonumber(ARGV[i])
i = i + 1
for _ = 1, n_alerts do
  if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[9], ARGV[i])
  else redis.call('HSET', KEYS[9], ARGV[i], ARGV[i + 1]) end
  i = i + 2
end
for k = 11, last_page_key do
  if ARGV[i + 1] == '' then redis.call('ZREM', KEYS[k], ARGV[i])
  else redis.call('ZADD', KEYS[k], ARGV[i + 1], ARGV[i]) end
  i = i + 2
end
return 'ok'
"""

# KEYS: each policy's group digest key (its group pointer is the same key with
#       ":group:" for ":digest:"; the id sequence, version keys and incident key prefix are
#       written into the script: fewer arguments to send on the hottest call).
# ARGV: 1 payload digest ("" never matches), 2 "1" if any alert is firing.
# Returns {"same", digest values…} when every digest matches, else
#         {"load", calendars version, handoffs version, maintenance version, personal rules version,
#          then per policy: group pointer, incident JSON, new id} ("" for none).
READ_GROUP = """
local n = #KEYS
local digests = {}
local same = ARGV[1] ~= ''
local prefix = ARGV[1] .. ':'
for i = 1, n do
  local d = redis.call('GET', KEYS[i]) or ''
  digests[i] = d
  if string.sub(d, 1, #prefix) ~= prefix then same = false end
end
if same then
  local out = {'same'}
  for i = 1, n do out[#out + 1] = digests[i] end
  return out
end
local out = {'load'}
for _, key in ipairs({'%(calendars)s', '%(handoffs)s', '%(maintenance)s', '%(rules)s'}) do
  out[#out + 1] = redis.call('GET', key) or ''
end
for i = 1, n do
  local gid = redis.call('GET', (string.gsub(KEYS[i], ':digest:', ':group:', 1)))
  local raw = gid and redis.call('GET', '%(incident)s' .. gid)
  local new_id = ''
  if not raw then
    new_id = tostring(redis.call('INCR', '%(seq)s'))
  elseif ARGV[2] == '1' then
    local status = string.match(digests[i], ':([%%a_]+)$')
    if not status then status = cjson.decode(raw)['status'] end
    if status == 'resolved' then new_id = tostring(redis.call('INCR', '%(seq)s')) end
  end
  out[#out + 1] = gid or ''
  out[#out + 1] = raw or ''
  out[#out + 1] = new_id
end
return out
""" % {"calendars": keys.CALENDARS_VERSION, "handoffs": keys.HANDOFFS_VERSION, "maintenance": keys.MAINTENANCE_VERSION,
       "rules": keys.PEOPLE_VERSION, "incident": keys.incident(""), "seq": keys.INCIDENT_SEQ}
