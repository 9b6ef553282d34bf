"""Every Redis access of the edge goes through a store (integrations/): no module of
``service/`` reaches for a Redis client (``….redis``), uses the ``redis`` package for more
than catching its errors, or builds a store of its own — the stores are built once, on
the ``Herald`` runtime object (``herald.handoffs``, ``herald.status``, …).

``ALLOWED`` lists what may still do so, and why. It is meant to shrink: the second test
fails when an entry no longer needs its place, so the list stays the truth."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICE = ROOT / "service"

#: module (path under the repository) -> the functions allowed (None: the whole module).
ALLOWED: dict[str, frozenset[str] | None] = {
    # Where clients are made: the one place that knows URLs, Sentinel and timeouts.
    "service/redis_clients.py": None,
    # The webhook's driver on the event loop: its own redis.asyncio client, for the Lua
    # scripts the ingest flow yields (integrations/script_batch.py batches them).
    "service/engine/ingest_async.py": None,
}
#: Processes' side channels that build a store over a client of their own (made by
#: service/redis_clients.py): the metrics' fail-fast writer, the CLI's look at Redis
#: without a runtime, ``herald dev``'s readiness probe.
OWN_STORE = {"service/engine/runtime.py", "service/telemetry/metrics.py", "service/cli/schedules.py", "service/dev/run.py"}
#: What catching Redis's failures needs: the only use of the package left to the edge.
ERRORS = {"RedisError", "ConnectionError", "TimeoutError", "ResponseError", "ReadOnlyError", "exceptions"}
STORES = {"Store", "FollowStore", "PeopleStore", "WebhookLog", "SlackStore", "HandoffStore", "HeartbeatStore", "FeedTokens", "ConsoleSessions", "RetentionStore", "DrillStore",
          "NoticeStore", "ReportStore", "StatusStore", "AttemptStore", "PagingStore", "MaintenanceStore"}


def _functions(tree: ast.AST) -> dict[ast.AST, str]:
    """Each node -> the name of the top-level function or method it is in ("" at module level)."""
    owner: dict[ast.AST, str] = {}

    def visit(node: ast.AST, name: str) -> None:
        for child in ast.iter_child_nodes(node):
            here = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and not name else name
            owner[child] = here
            visit(child, here)

    visit(tree, "")
    return owner


def violations(path: Path, relative: str) -> list[tuple[str, int, str]]:
    """(function, line, what) for each direct Redis access or store construction in
    ``path`` (``relative``: its path in the repository)."""
    tree = ast.parse(path.read_text(), str(path))
    owner = _functions(tree)
    found = []
    for node in ast.walk(tree):
        what = None
        if isinstance(node, ast.Attribute) and node.attr == "redis":
            what = f"reaches a Redis client: {ast.unparse(node)}"
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in (
                "redis", "aioredis") and node.attr not in ERRORS:
            what = f"uses the redis package: {ast.unparse(node)}"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "redis":
            what = f"imports from {node.module}"
        elif isinstance(node, ast.Import) and any(a.name.startswith("redis.") for a in node.names):
            what = f"imports {', '.join(a.name for a in node.names)}"
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in STORES
              and relative not in OWN_STORE):
            what = f"builds a store of its own: {node.func.id}(…) (use the one on the Herald runtime)"
        if what:
            found.append((owner.get(node, ""), node.lineno, what))
    return found


def _modules() -> list[Path]:
    # service/dev is dev tooling (its own redis-server, the simulator), not the production edge
    return sorted(p for p in SERVICE.rglob("*.py") if "dev" not in p.relative_to(SERVICE).parts[:1])


def test_the_edge_reaches_redis_only_through_stores():
    problems = []
    for path in _modules():
        relative = path.relative_to(ROOT).as_posix()
        allowed = ALLOWED.get(relative, frozenset())
        for function, line, what in violations(path, relative):
            if allowed is None or function in allowed:
                continue
            problems.append(f"{relative}:{line} ({function or 'module'}): {what}")
    assert not problems, ("Redis access outside a store (add a method to a store in integrations/, and use the "
                          "store on the Herald runtime):\n" + "\n".join(problems))


def test_every_allowed_module_still_needs_its_place():
    """An entry of ALLOWED whose module no longer touches Redis is removed from the list."""
    stale = [relative for relative in ALLOWED if (ROOT / relative).exists() and not violations(ROOT / relative, relative)]
    assert not stale, f"these no longer touch Redis directly: remove them from ALLOWED: {stale}"


def test_the_check_finds_what_it_is_meant_to(tmp_path):
    """The checker itself: each kind of access is found, catching errors is not."""
    sample = tmp_path / "service" / "sample.py"
    sample.parent.mkdir()
    sample.write_text(
        "import redis\n"
        "from redis.retry import Retry\n"
        "from integrations.handoff_store import HandoffStore\n"
        "def f(herald):\n"
        "    herald.store.redis.get('x')\n"
        "    client = redis.Redis.from_url('redis://')\n"
        "    HandoffStore(client)\n"
        "    try:\n"
        "        pass\n"
        "    except redis.RedisError:\n"
        "        pass\n")
    found = violations(sample, "service/sample.py")
    kinds = sorted(what.split(":")[0] for _, _, what in found)
    assert kinds == ["builds a store of its own", "imports from redis.retry", "reaches a Redis client",
                     "uses the redis package"], found
    assert all(function in ("f", "") for function, _, _ in found)
