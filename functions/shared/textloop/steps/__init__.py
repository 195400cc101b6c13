"""The iteration state machine's steps: one module per Task state (or family of states), named
after it (``SelectForReview`` → ``select_for_review``), holding ``EVENT`` (what the state
passes) and ``run(ctx, event) -> dict`` (what the state gets back)."""
