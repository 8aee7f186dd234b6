"""The load generator: the load plan, the worker process on Locust's engine (ours, a locustfile's
or a scenario's users; distributed on Locust's master/worker), and the driver that relays its messages."""
