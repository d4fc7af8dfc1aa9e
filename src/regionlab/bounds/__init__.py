"""Exact-integer bounds on the number of linear regions of CPWL networks."""
