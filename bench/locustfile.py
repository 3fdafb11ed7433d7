"""Locust's fastest user class, hitting the same URL as every other client in `make bench`."""

from locust import constant
from locust.contrib.fasthttp import FastHttpUser
from locust.user.task import task


class Bench(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self) -> None:
        self.client.get("/")
