"""Event sources, the region gazetteer, the event store, panels and calendar features."""
