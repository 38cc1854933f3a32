"""Energy figures the control plane derives itself: forecasts of carbon and price."""
