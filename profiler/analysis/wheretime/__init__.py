"""Where the time goes, from the stacks alone: each py-spy sample placed in a category of work
(storage, serialization, model compute, another service, locks, logging, garbage collection, the
framework, the app's own code) by a table of what each library's frames do (categories.toml),
and weighed on a CPU or waiting by each thread's CPU time. docs/where-time-goes.md."""
