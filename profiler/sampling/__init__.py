"""Sampling the target while the load runs: the process sampler (psutil), NVML GPUs, RAPL energy,
Prometheus expositions, the CPU a process may use, and py-spy's stacks."""
