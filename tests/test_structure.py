"""The shape of the code: small modules, and imports that never go in a circle (lazy ones included)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("stm", "streaming", "batch", "deploy", "conf")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            out[name] = path
    return out


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the product modules it imports anywhere in its text (top level, in functions, type-only)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_product_modules_import_each_other_in_a_circle():
    assert cycles(import_graph(_modules())) == []


def test_the_cycle_finder_sees_a_circle_through_a_lazy_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_config_declarations_do_not_import_the_config_loader():
    graph = import_graph(_modules())
    for module in ("stm.specs", "stm.sharing.hub_config", "stm.names", "stm.typed", "stm.errors"):
        assert "stm.config" not in graph[module], module


def test_no_module_is_over_400_lines():
    long = {n: len(p.read_text(encoding="utf-8").splitlines()) for n, p in _modules().items()}
    assert {n: lines for n, lines in long.items() if lines > MAX_LINES} == {}


def test_no_layer_imports_the_command_line():
    graph = import_graph(_modules())
    assert sorted(m for m, targets in graph.items() if "stm.cli" in targets) == []


def test_the_transforms_read_and_write_nothing():
    graph = import_graph(_modules())
    io = {m for m in graph if m.startswith(("stm.store", "streaming", "batch", "stm.engine", "stm.spark"))}
    leaks = {m: sorted(graph[m] & io) for m in graph if m.startswith("stm.transforms") and graph[m] & io}
    assert leaks == {}


def test_every_package_ships_in_the_wheel():
    text = (ROOT / "setup.py").read_text(encoding="utf-8")
    listed = set(re.findall(r'^\s+"([a-z_.]+)",$', text, re.M))
    found = {n for n, p in _modules().items() if p.name == "__init__.py"} - {"conf"}
    assert found - listed == set()


def test_session_properties_are_set_only_through_the_serverless_tripwire():
    """``stm.spark.set_conf`` refuses in a Spark Connect session what serverless refuses; a ``spark.conf.set``
    anywhere else would slip past it (a product module, not a test fixture)."""
    direct = re.compile(r"\.conf\.(set|unset)\(")
    found = [n for n, p in _modules().items() if n != "stm.spark" and direct.search(p.read_text(encoding="utf-8"))]
    assert found == []


def test_set_conf_in_a_connect_session_refuses_what_serverless_refuses():
    import pytest

    from stm.errors import UsageError
    from stm.spark import set_conf

    class Conf:
        def __init__(self) -> None:
            self.values: dict[str, str] = {}

        def set(self, key: str, value: str) -> None:
            self.values[key] = value

        def unset(self, key: str) -> None:
            self.values.pop(key, None)

    # a session of Spark Connect's own client class name space, as serverless hands one to a job
    connect_session = type("SparkSession", (), {"__module__": "pyspark.sql.connect.session"})()
    connect_session.conf = Conf()
    with pytest.raises(UsageError, match=r"spark\.databricks\.delta\.write\.txnAppId cannot be set on serverless"):
        set_conf(connect_session, "spark.databricks.delta.write.txnAppId", "app")
    set_conf(connect_session, "spark.sql.shuffle.partitions", "4")
    assert connect_session.conf.values == {"spark.sql.shuffle.partitions": "4"}
    classic_session = type("SparkSession", (), {"__module__": "pyspark.sql.session"})()
    classic_session.conf = Conf()
    set_conf(classic_session, "spark.databricks.delta.write.txnAppId", "app")  # classic compute allows it
    assert classic_session.conf.values == {"spark.databricks.delta.write.txnAppId": "app"}
