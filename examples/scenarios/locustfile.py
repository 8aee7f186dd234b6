"""A locustfile with two routes of different behaviour, run under the profiler unchanged:

    profiler run http://127.0.0.1:{port}/ --launch "python examples/scenarios/app.py --port {port}" \
        --locustfile examples/scenarios/locustfile.py --users 1,4,8

Any locustfile works the same: HttpUser or FastHttpUser, weighted tasks, wait_time, on_start, name=.
"""

from locust import FastHttpUser, constant, task


class PilotUser(FastHttpUser):
    wait_time = constant(0)

    @task(3)
    def wait(self) -> None:
        self.client.get("/wait")  # an I/O wait (a model API call, a database)

    @task(1)
    def compute(self) -> None:
        self.client.get("/compute", name="/compute")  # CPU on the server
