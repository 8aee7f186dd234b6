"""One run, start to finish: the target (launched or attached), its readiness, the session that
starts the sampler, the load and py-spy, writes the run folder and hands it to the report; the live view."""
