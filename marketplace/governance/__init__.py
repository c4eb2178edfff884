"""Co-building and benefit sharing (DESIGN §13): owners with shares, ownership history, the split."""
