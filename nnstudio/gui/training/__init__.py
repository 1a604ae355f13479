"""Live training in the app: the worker (each run trains in a process of its own), the training panel and the views of what the network learns."""
