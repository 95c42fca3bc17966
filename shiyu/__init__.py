"""The shiyu command: wires the packages together."""
