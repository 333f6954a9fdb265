"""mlkube studio: a web portal over one workspace's models, jobs and endpoints.

Control plane only (Starlette, Jinja2 and uvicorn are the control plane's; the inference
server and the gateway never import this package). Every page and JSON route reads and
writes through ``MLClient`` and its operations, the same calls the SDK and CLI make.
``mlkube studio`` starts it (``serving.run_studio``); ``app.create_app`` builds the app.
"""
