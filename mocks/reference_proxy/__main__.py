"""``python -m hokusai_mocks.reference_proxy --port P --auth-url U --mlflow-url M``.

Options fall back to the environment a ``PROXY_CMD`` proxy gets (``PORT``,
``HOKUSAI_AUTH_SERVICE_URL``, ``MLFLOW_SERVER_URL``, ``AUTH_SERVICE_ID``).
"""

from __future__ import annotations

import argparse
import logging

import uvicorn

from .app import ReferenceProxy
from .settings import ProxySettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hokusai_mocks.reference_proxy", description=__doc__)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--auth-url")
    parser.add_argument("--mlflow-url")
    parser.add_argument("--service-id")
    parser.add_argument("--cache-ttl", type=float, dest="cache_ttl_s")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    settings = ProxySettings(**overrides)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per upstream call drowns the log
    uvicorn.run(ReferenceProxy(settings), host=settings.host, port=settings.port, log_level="warning",
                access_log=False)


if __name__ == "__main__":
    main()
