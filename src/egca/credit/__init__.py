"""Credit stage: routing, earliest-divergence localization, token spans and the advantage operator."""
