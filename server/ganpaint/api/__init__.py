"""The web API: FastAPI app (``create_app``), REST routes, the /ws/paint websocket, the original GANPaint /api."""
