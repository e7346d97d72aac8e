"""ganpaint.lru: the one bounded LRU (feature maps, pooled masks, stamp edits)."""

from ganpaint.lru import LRU


def test_bounded_least_recently_used_first_out():
    c = LRU(2)
    for k in "abc":
        c.put(k, k.upper())
    assert len(c) == 2 and c.get("a") is None and c.get("c") == "C"
    c.get("b")  # b is now the most recently used
    c.put("d", "D")
    assert c.keys() == ["b", "d"] and (c.hits, c.misses) == (2, 1)


def test_capacity_zero_keeps_nothing():
    c = LRU(0)
    c.put("a", 1)
    assert len(c) == 0 and c.get("a") is None
