"""Feature engineering: the declarative feature spec saved with each model, and the design
matrices (trailing windows, lags, calendar and spatial features) built from a panel."""
