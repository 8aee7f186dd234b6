"""Where the time goes: py-spy's stacks by function and process, the Server-Timing handoffs,
the GPUs and energy per stage."""
