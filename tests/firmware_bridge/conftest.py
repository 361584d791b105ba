"""The C reference node, compiled once per session with AddressSanitizer and UBSan (a memory
fault or undefined behaviour aborts the process, which the tests see), and a node on a pty
pair per test."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.c_node import CBuild, SimulatedNode, build_c_node
from devstack.serial_line import PtyPair


@pytest.fixture(scope="session")
def c_build(tmp_path_factory: pytest.TempPathFactory) -> CBuild:
    return build_c_node(tmp_path_factory.mktemp("c-node"), sanitize=True)


@pytest.fixture
def node_line(c_build: CBuild, tmp_path: Path) -> Iterator[tuple[str, SimulatedNode]]:
    """(the host's end of the line, the simulated node on the other end)."""
    with PtyPair(tmp_path, "node") as pair, SimulatedNode(c_build.node, pair.device_end, tmp_path) as node:
        yield pair.master_end, node
