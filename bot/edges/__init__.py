"""The edges: the Alma client, the store and the settings. Imports nothing above it."""
