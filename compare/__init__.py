"""compare: the SymPy oracle for exact derivatives, and the cost comparison of forward and reverse mode."""
