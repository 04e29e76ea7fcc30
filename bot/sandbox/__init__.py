"""A faithful local Alma: real HTTP on loopback with Alma's paths, envelopes, codes and limits."""
