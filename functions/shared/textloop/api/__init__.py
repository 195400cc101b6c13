"""The HTTP APIs: one module per API Lambda, each with its routes on ``app`` (see ``http``)."""
