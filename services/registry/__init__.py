"""Registry: registrations of labour migrants (where they work and live)."""
