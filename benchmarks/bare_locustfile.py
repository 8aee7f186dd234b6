"""What a plain Locust test of one URL is: the baseline of benchmarks/generator_efficiency.py."""

from locust import FastHttpUser, constant, task


class Bare(FastHttpUser):
    wait_time = constant(0)

    @task
    def hit(self) -> None:
        self.client.get("/")
