"""Engine UUID -> model name, from a map file, Composer and Connect."""
