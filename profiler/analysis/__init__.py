"""The analysis of a run, pure (values in, values out): the figures (`figures`), the digest the
rules read (`digest`), the behavioural traits (`traits`), where the time goes (`attribution`),
scaling and hosting advice with the plan (`advice`), per-route results and the run's validity."""
