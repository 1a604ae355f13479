"""Live training in the app: the worker thread, the training panel and the views of what the network learns."""
