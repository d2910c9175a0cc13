"""Live push: the broadcaster pipe and the reminder runner (the inbox in `store` is the truth)."""
