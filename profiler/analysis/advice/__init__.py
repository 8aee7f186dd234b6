"""Scaling and hosting advice: capacity at the objective, the rules that recommend, advice in the
words of the server found, the hosting plan with its paste-ready configuration, the sweep's picks."""
