"""One round trip for a trigger from a key the configuration file gives: authenticate the
key and count its event (``integration_store``'s script) and read the event's group
(``store_scripts.READ_GROUP``) in the same script.

A file key's integration is known before Redis is asked (the file maps key digests to
integrations), so its group — receiver, route, digest — can be worked out first; Redis
then says whether the key is still live (not revoked) and counts the event, and the group
read comes back with it. A repeat of an open incident's trigger is then answered from
this one round trip, as an Alertmanager re-send is. When the key turns out to name
another integration than the file's (a key made with the API), or none, the read is not
made and the caller continues the usual way (authentication answer in hand).

The two scripts are composed, not rewritten: each runs as a function of its own ``KEYS``
and ``ARGV`` (Lua's globals shadowed by the function's parameters).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from integrations.integration_store import _AUTHENTICATE, authenticate_call
from integrations.store_scripts import READ_GROUP

# KEYS: the authentication's 3 keys, then READ_GROUP's. ARGV: 1 the number of the
# authentication's ARGV (n), 2 the integration the file gives the key, then the
# authentication's n ARGV, then READ_GROUP's. Returns {authentication reply} when the key
# names no integration or another one, else {authentication reply, READ_GROUP reply}.
AUTHENTICATE_AND_READ = """
local function authenticate(KEYS, ARGV)
%s
end
local function read_group(KEYS, ARGV)
%s
end
local n = tonumber(ARGV[1])
local auth_argv, read_argv, read_keys = {}, {}, {}
for i = 1, n do auth_argv[i] = ARGV[2 + i] end
for i = 3 + n, #ARGV do read_argv[#read_argv + 1] = ARGV[i] end
for i = 4, #KEYS do read_keys[#read_keys + 1] = KEYS[i] end
local found = authenticate({KEYS[1], KEYS[2], KEYS[3]}, auth_argv)
if #found == 0 or found[1] ~= ARGV[2] or found[2] ~= '' then return {found} end
return {found, read_group(read_keys, read_argv)}
""" % (_AUTHENTICATE, READ_GROUP)


def authenticate_and_read_call(key: str, file_keys: dict[str, str], integration: str, now: datetime,
                               read_keys: Sequence[str], read_args: Sequence[object]
                               ) -> tuple[str, list[str], list[object]]:
    """Script, KEYS and ARGV: authenticate ``key`` (expected to open the file's
    ``integration``), count its event, and read the group ``read_keys``/``read_args``
    (``store.group_read_call``) in one round trip."""
    _, auth_keys, auth_args = authenticate_call(key, file_keys, now)
    return AUTHENTICATE_AND_READ, [*auth_keys, *read_keys], [len(auth_args), integration, *auth_args, *read_args]
