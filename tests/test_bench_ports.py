"""bench.ports: the one free-port picker of the benchmarks and the tests."""

from __future__ import annotations

import socket

import pytest

from bench import ports


def test_a_port_is_never_handed_out_twice_even_when_the_kernel_offers_it_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The kernel cannot be made to offer a port twice on demand: a stand-in socket does.
    offered = iter([40001, 40001, 40002])

    class FakeSocket:
        def __enter__(self) -> FakeSocket:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def bind(self, address: tuple[str, int]) -> None:
            self.port = next(offered)

        def getsockname(self) -> tuple[str, int]:
            return "127.0.0.1", self.port

    monkeypatch.setattr(ports, "_handed_out", set())
    monkeypatch.setattr(socket, "socket", FakeSocket)
    assert (ports.free_port(), ports.free_port()) == (40001, 40002)


def test_the_port_is_free_to_bind() -> None:
    port = ports.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
