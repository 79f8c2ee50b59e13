"""`python -m launch_helper ARGS`: `hf-select ARGS` with faults and counters the distributed tests inject into the
ranks of an `accelerate launch` (the library itself is unchanged).

- ``HF_SELECT_TEST_KILL_RANK=r`` and ``HF_SELECT_TEST_KILL_AFTER=n``: rank r kills itself (SIGKILL) once n chunks
  of passes on a model (chunks whose progress planned tokens for the engine) are finished;
- ``HF_SELECT_TEST_COUNT=path``: each rank appends the number of engine requests of each call to ``path.<rank>``.
"""

import os
import signal
import sys

from hf_select import progress
from hf_select.cli import main
from hf_select.engine import ScoringEngine

RANK = os.environ.get("RANK", "0")

if os.environ.get("HF_SELECT_TEST_KILL_RANK") == RANK:
    finished = [0]
    original_finish = progress.ScoreProgress.finish_chunk

    def finish_then_die(self, end_row):
        original_finish(self, end_row)
        finished[0] += self.planned_rows > 0
        if finished[0] >= int(os.environ["HF_SELECT_TEST_KILL_AFTER"]):
            os.kill(os.getpid(), signal.SIGKILL)

    progress.ScoreProgress.finish_chunk = finish_then_die

if os.environ.get("HF_SELECT_TEST_COUNT"):
    original_score = ScoringEngine.score

    def counted(self, requests, **kwargs):
        with open(f"{os.environ['HF_SELECT_TEST_COUNT']}.{RANK}", "a") as log:
            log.write(f"{len(requests)}\n")
        return original_score(self, requests, **kwargs)

    ScoringEngine.score = counted

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
