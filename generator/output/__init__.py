"""Stage 4: the output transaction: reconcile, render in workers, stage, commit."""
