"""The proxy bench's one measuring loop: pairs alternate which side goes first, every index once."""

from __future__ import annotations

from runner.bench.proxy import alternated, paced


def test_paced_yields_every_index_once_in_order() -> None:
    assert list(paced(5, 1e9)) == [0, 1, 2, 3, 4]


def test_alternated_puts_the_proxied_side_first_in_even_pairs() -> None:
    calls: list[str] = []

    def measure(side: str) -> float:
        calls.append(side)
        return float(len(calls))

    direct, proxied = alternated(3, 1e9, measure, "direct", "proxied")
    assert calls == ["proxied", "direct", "direct", "proxied", "proxied", "direct"]
    assert direct == [2.0, 3.0, 6.0]
    assert proxied == [1.0, 4.0, 5.0]
