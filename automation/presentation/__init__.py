"""How the worker's output looks to people: tab formatting (and, in time, mail layout)."""
