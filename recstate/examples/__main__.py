"""``python -m recstate.examples NAME``: print the path of the example trace NAME."""

import sys

from recstate.examples import path_of, traces

wanted = sys.argv[1] if len(sys.argv) > 1 else ""
names = [n for n in traces() if n in (wanted, f"{wanted}.jsonl")]
if not names:
    sys.exit(f"usage: python -m recstate.examples NAME; names: {', '.join(traces())}")
print(path_of(names[0]))
