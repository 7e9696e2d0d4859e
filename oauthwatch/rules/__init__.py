"""Rules that more than one part of oauthwatch applies, each written once.

The detectors, the dashboard, the digest and ``oauthwatch check`` all judge the same things (is an
app's IP policy relaxed? is a grant stale? is a source lagging? which network is this address
in?). Each judgement lives here, in a pure module that imports nothing from the rest of
oauthwatch, so every reader gets the same answer (docs/architecture.md, "Rules written once").
"""
