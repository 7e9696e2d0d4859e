"""Salesforce record Ids: 15-character case-sensitive bodies plus the 3-character case-safe suffix.

Ids are built from a number so they are stable for a seed and ordered like real ones (key prefix,
a two-character instance code, a reserved character, then nine base-62 digits). The suffix is the
documented checksum: each 5-character chunk gives a 5-bit mask of its upper-case letters, looked up
in ``A–Z0–5``.
"""

from __future__ import annotations

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
POD = "5j"  # instance code inside Ids, as in the real fixtures (0055j000000utlP…)


def base62(number: int, width: int) -> str:
    """``number`` in base 62, left-padded with zeros to ``width`` digits."""
    if number < 0:
        raise ValueError("Ids are built from non-negative numbers")
    digits = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        digits.append(_B62[rem])
    if number:
        raise ValueError("number too large for the Id width")
    return "".join(reversed(digits))


def suffix(id15: str) -> str:
    """The case-safe 3-character suffix of a 15-character Id."""
    out = []
    for chunk in range(3):
        mask = 0
        for pos, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                mask |= 1 << pos
        out.append(_SUFFIX[mask])
    return "".join(out)


def make_id(prefix: str, number: int, *, reserved: str = "0") -> str:
    """An 18-character Id: key prefix + instance + reserved character + 9 base-62 digits + suffix."""
    body = f"{prefix}{POD}{reserved}{base62(number, 9)}"
    return body + suffix(body)


def to15(id18: str | None) -> str:
    """The 15-character form used by Event Log Files (USER_ID, ORGANIZATION_ID…)."""
    return (id18 or "")[:15]


def is_valid(id18: str) -> bool:
    """Whether ``id18`` is an 18-character Id with a correct case-safe suffix."""
    return len(id18) == 18 and suffix(id18[:15]) == id18[15:]


_PAIRS = [a + b for a in _B62 for b in _B62]
_UP1 = [1 if "A" <= c <= "Z" else 0 for c in _B62]
_UP2 = [_UP1[i // 62] | _UP1[i % 62] << 1 for i in range(62 * 62)]
_P5 = 62**5


class IdFactory:
    """Fast :func:`make_id` for one key prefix (bulk generation makes millions of Ids)."""

    def __init__(self, prefix: str, reserved: str = "0") -> None:
        head = f"{prefix}{POD}"
        if len(head) != 5 or len(reserved) != 1:
            raise ValueError("prefix must be 3 characters and reserved 1")
        self.head = head
        self.head_suffix = _SUFFIX[sum(1 << i for i, c in enumerate(head) if "A" <= c <= "Z")]
        self.reserved = reserved
        self.res_mask = 1 if "A" <= reserved <= "Z" else 0

    def __call__(self, number: int) -> str:
        hi, lo = divmod(number, _P5)
        if hi >= 62**4:
            raise ValueError("number too large for the Id width")
        h1, h2 = divmod(hi, 3844)
        l0, rest = divmod(lo, 3844 * 3844)
        l1, l2 = divmod(rest, 3844)
        m2 = self.res_mask | _UP2[h1] << 1 | _UP2[h2] << 3
        m3 = _UP1[l0] | _UP2[l1] << 1 | _UP2[l2] << 3
        return (
            self.head
            + self.reserved
            + _PAIRS[h1]
            + _PAIRS[h2]
            + _B62[l0]
            + _PAIRS[l1]
            + _PAIRS[l2]
            + self.head_suffix
            + _SUFFIX[m2]
            + _SUFFIX[m3]
        )
