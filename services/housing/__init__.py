"""Housing: capacity, the fair share across the region, people at risk."""
