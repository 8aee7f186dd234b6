"""A scenario file made into a Locust user class: the worker runs it like a locustfile's users.

Imports Locust: only the load worker process imports this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from locust import between, constant
from locust.contrib.fasthttp import FastHttpUser

from profiler.load.scenario import Login, Scenario, Step, expand, expand_value, read_json_file


def _body(scenario: Scenario, step: Step) -> tuple[bytes | None, dict[str, str]]:
    """The step's body as sent (templates expanded now, in the worker), and its content type."""
    if step.json_file is not None:
        return json.dumps(expand_value(read_json_file(scenario, step.json_file))).encode(), _JSON
    if step.json_body is not None:
        return json.dumps(expand_value(step.json_body)).encode(), _JSON
    if step.body is not None:
        return expand(step.body).encode(), {}
    return None, {}


_JSON = {"Content-Type": "application/json"}


def _field(document: Any, dotted: str) -> str | None:
    for part in dotted.split("."):
        if not isinstance(document, dict) or part not in document:
            return None
        document = document[part]
    return str(document) if isinstance(document, str | int) else None


def scenario_user(scenario: Scenario, timeout_s: float) -> type[FastHttpUser]:
    """A user that logs in once (if asked), then sends the weighted requests with think time."""

    def send(user: Any, step: Step) -> Any:
        body, kind = _body(scenario, step)
        headers = {**kind, **{k: expand(v) for k, v in step.headers.items()}, **user.auth}
        return user.client.request(step.method, expand(step.path), name=step.label, data=body, headers=headers,
                                   catch_response=isinstance(step, Login) and step.token is not None)  # fmt: skip

    def task_of(step: Step) -> Callable[[Any], None]:
        def run(user: Any) -> None:
            send(user, step)

        run.__name__ = step.label
        return run

    class ScenarioUser(FastHttpUser):
        wait_time = (
            constant(scenario.think_time[0])
            if scenario.think_time[0] == scenario.think_time[1]
            else between(*scenario.think_time)
        )
        network_timeout = timeout_s
        connection_timeout = timeout_s
        max_retries = 0
        insecure = True
        tasks = {task_of(step): step.weight for step in scenario.requests}  # type: ignore[assignment]

        def on_start(self) -> None:
            self.auth: dict[str, str] = {}
            login = scenario.login
            if login is None:
                return
            response = send(self, login)
            if login.token is None:
                return
            with response:
                token = None
                try:
                    token = _field(response.json(), login.token)
                except (ValueError, TypeError):
                    pass
                if token is None:
                    response.failure(f"no '{login.token}' in the login's answer")
                else:
                    self.auth = {login.token_header: login.token_prefix + token}

    return ScenarioUser
