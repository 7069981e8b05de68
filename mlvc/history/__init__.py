"""History: read files, tracked data and results as they were at any git revision (dulwich, no checkout)."""
