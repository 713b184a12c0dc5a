"""Stage 1: read, check and resolve an inventory (nothing here renders)."""
