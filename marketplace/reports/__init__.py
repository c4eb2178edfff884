"""Reports read across the areas through their services: the reuse report of DESIGN §13 (考核指标)."""
