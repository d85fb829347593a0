"""Event data: sources, the region gazetteer, ingestion, panels, periods and the calendar."""
