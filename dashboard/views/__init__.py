"""The app's pages: each wires widgets to :mod:`layers` and :mod:`dashboard.mapview`."""
