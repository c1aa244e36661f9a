"""The hops of third-party model registration.

A hop is one directed edge of the topology: who sends the request and who
must accept it under its contract. Findings name the hop so a reader knows at
once which side of which conversation broke.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Hop"]


class Hop(StrEnum):
    CLIENT_TO_PROXY = "client->proxy"
    CLIENT_TO_AUTH = "client->auth"
    CLIENT_TO_MLFLOW = "client->mlflow"
    PROXY_TO_AUTH = "proxy->auth"
    PROXY_TO_MLFLOW = "proxy->mlflow"
    #: The MLflow side's own calls to the auth service (a gateway in front of MLflow validating keys again).
    MLFLOW_TO_AUTH = "mlflow->auth"

    @property
    def sender(self) -> str:
        return self.value.split("->")[0]

    @property
    def receiver(self) -> str:
        return self.value.split("->")[1]

    def __str__(self) -> str:
        return self.value
