"""The stack's S3 store: moto's S3 server on loopback, with the run's bucket made before it counts as up.

Run as a part (``python -m hokusai_contracts.stack.s3_server --host H --port P --bucket B``): moto's
threaded server (its Flask app on werkzeug), then the bucket created through the server with the
credentials of the part's environment (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, which only
MLflow also gets), then it serves until SIGTERM or SIGINT. The part's health rule asks for the
bucket, so MLflow starts only once there is somewhere to write. Moto keeps everything in memory:
nothing is left on disk when the part ends, however it ends.
"""

from __future__ import annotations

import argparse
import signal
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="s3_server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="where to listen (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="the port to listen on")
    parser.add_argument("--bucket", required=True, help="the bucket to create")
    parser.add_argument("--region", default="us-east-1", help="the bucket's region (default: us-east-1)")
    args = parser.parse_args(argv)

    # Imported here: moto's import takes a second, and --help should not wait for it.
    import boto3
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # the server's threads inherit the mask: the signal waits here
    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    try:
        boto3.client("s3", endpoint_url=f"http://{args.host}:{args.port}",
                     region_name=args.region).create_bucket(Bucket=args.bucket)
        sys.stdout.write(f"moto S3 server on {args.host}:{args.port}, bucket {args.bucket}\n")
        sys.stdout.flush()
        signal.sigwait(stop)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
