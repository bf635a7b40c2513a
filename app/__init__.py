"""The service: settings, app factory, routers and schemas. The domain lives in `models/`."""
