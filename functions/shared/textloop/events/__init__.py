"""Handlers of AWS events outside the state machine: ``run(ctx, event)``, as steps have."""
