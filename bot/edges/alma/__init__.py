"""Everything that talks to Alma: the client, its errors and the typed models of Alma's JSON."""
