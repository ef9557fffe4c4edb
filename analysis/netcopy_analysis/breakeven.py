"""Where zerocopy starts to pay: the smallest message size at which zerocopy's sender
kernel CPU per byte drops below onecopy's."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .sweep import medians


@dataclass
class BreakEven:
    threads: int
    # The smallest size where zerocopy costs less CPU per byte than onecopy; None if none.
    size: int | None
    # Why there is no answer, when there is none.
    reason: str | None


def break_even(cells: pd.DataFrame) -> list[BreakEven]:
    """One answer per thread count present for both modes.

    The question only makes sense where zerocopy can avoid the copy. Over loopback or veth
    the kernel copies every looped packet (Documentation/networking/msg_zerocopy.rst), so
    every completion is COPIED; then the answer is None with that reason.
    """
    m = medians(cells)
    out = []
    for threads in sorted(m["Threads"].unique()):
        one = m[(m["Mode"] == "onecopy") & (m["Threads"] == threads)].set_index("MessageSize")
        zc = m[(m["Mode"] == "zerocopy") & (m["Threads"] == threads)].set_index("MessageSize")
        common = sorted(set(one.index) & set(zc.index))
        if not common:
            continue
        avoided = zc.loc[common, "ZcAvoidedShare"]
        if avoided.isna().all() or (avoided.fillna(0) == 0).all():
            out.append(BreakEven(int(threads), None,
                                 "zerocopy never avoided the copy here (every completion COPIED: "
                                 "loopback/veth), so there is no break-even on this host"))
            continue
        a = one.loc[common, "SendOnCpuNsPerByte"]
        b = zc.loc[common, "SendOnCpuNsPerByte"]
        if a.isna().all() or b.isna().all():
            out.append(BreakEven(int(threads), None, "not traced: no CPU per byte"))
            continue
        cheaper = [s for s in common if pd.notna(a[s]) and pd.notna(b[s]) and b[s] < a[s]]
        out.append(BreakEven(int(threads), min(cheaper) if cheaper else None,
                             None if cheaper else "zerocopy never cost less per byte"))
    return out
