"""A pytest plugin tools/mutate.py loads into each mutant's run (``-p mutation_profile``).

A mutant is killed by the first failing example; hypothesis would then spend minutes shrinking
it to the smallest one, which nobody reads here. This profile keeps the explicit, reused and
generated examples (so what kills in the suite kills here) and skips the shrinking.
"""

from __future__ import annotations

from hypothesis import Phase, settings

settings.register_profile("mutation", phases=(Phase.explicit, Phase.reuse, Phase.generate),
                          database=None)
settings.load_profile("mutation")
